// runtime.hpp -- everything the milter needs for identities and
// verification, built once from the configuration.
//
// The daemon creates one AuthRuntime after daemonizing (the resolver's
// threads do not survive fork()) and before starting the milter; it is then
// shared, read-only, by all worker threads.  At end of message:
//
//   if (auth.is_outbound(msg.env)) {
//       auto id = auth.identity->run(msg, signing_domain);   // the identity, or 550 5.7.1 ...
//   } else if (auth.inbound) {
//       Status s = auth.inbound->run(msg);                    // A-R header, 451 4.4.3, 550 5.7.1
//   }
//
// and, on a timer (e.g. hourly), auth.verify_identities() re-checks every
// identity and stores the results that require_verified reads.
//
// Errors: create() fails on a bad [dns] setting or an unreadable trust
// anchor (a start-up error).  Thread safety: immutable after create().
#pragma once

#include <memory>
#include <vector>

#include "auth/dmarc.hpp"
#include "auth/identity.hpp"
#include "auth/inbound.hpp"
#include "auth/outbound.hpp"
#include "auth/settings.hpp"
#include "auth/spf.hpp"
#include "auth/verification.hpp"
#include "config/config.hpp"
#include "dkim/verifier.hpp"
#include "dns/resolver.hpp"
#include "util/result.hpp"

namespace ses::store {
class Env;
}

namespace ses::auth {

struct AuthRuntime {
    std::shared_ptr<dns::Resolver> dns;
    std::shared_ptr<Spf> spf;
    std::shared_ptr<dkim::Verifier> dkim;
    std::shared_ptr<Dmarc> dmarc;
    OutboundSettings outbound;
    VerifySettings verify;
    std::vector<IdentityConf> identities;
    std::unique_ptr<VerificationStore> store;  // null without a store
    std::unique_ptr<IdentityStage> identity;
    std::unique_ptr<Inbound> inbound;  // null when [verify] enabled = false

    // store may be null (no require_verified checks possible then).
    static Result<std::unique_ptr<AuthRuntime>> create(const config::Config& cfg, std::shared_ptr<store::Env> store);

    bool is_outbound(const mail::Envelope& env) const { return classify_outbound(env, outbound).outbound; }

    // The periodic identity check.
    std::vector<IdentityReport> verify_identities() const;
};

}  // namespace ses::auth
