// verification.hpp -- is a sending identity set up in DNS?  (SES's domain
// verification.)
//
// verify_identity() looks up, for one [[domain]]:
//   dkim   every selector's TXT at <selector>._domainkey.<domain> carries the
//          public half of its configured private key;
//   spf    the domain's SPF policy (evaluated with libspf2) authorizes each
//          of its outbound_ips (no check when none are configured);
//   dmarc  a DMARC record exists (at the domain or its organizational
//          domain) and parses (libopendmarc), and which policy it sets.
// Each check is verified, pending (nothing published yet, or DNS did not
// answer) or failed (published but wrong), and names the exact record to
// publish.  The identity is failed when any check failed, else pending when
// any is pending, else verified; `reason` is the first problem, as the
// 550 reply for require_verified quotes it ("DKIM record s1._domainkey
// missing").
//
// VerificationStore keeps the last report of each identity with its time in
// the LMDB table `identity_verification` (key: domain; value: u8 version 1 +
// the report as JSON), shared by sesctl and the daemon.
//
// Errors: verify_identity never fails (problems are in the report); the
// store returns Status.  Thread safety: verify_identity is reentrant; a
// VerificationStore may be shared.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/dmarc.hpp"
#include "auth/identity.hpp"
#include "auth/settings.hpp"
#include "auth/spf.hpp"
#include "dns/answer.hpp"
#include "util/result.hpp"

namespace ses::store {
class Env;
}

namespace ses::auth {

struct CheckResult {
    std::string kind;  // "dkim", "spf", "dmarc"
    std::string name;  // the DNS name looked at
    VerifyState state = VerifyState::pending;
    std::string detail;   // what was found, one line
    std::string found;    // the record found, if any
    std::string publish;  // zone-file line to publish; empty when verified
};

struct IdentityReport {
    std::string domain;
    VerifyState state = VerifyState::pending;
    std::string reason;  // first problem, empty when verified
    int64_t checked_at = 0;
    int64_t pending_since = 0;  // first check that found it not verified (0 = verified)
    std::vector<CheckResult> checks;
};

// The public TXT record each configured key needs ("v=DKIM1; k=rsa; p=..."),
// or an error text when the key file cannot be read.
struct ExpectedKey {
    std::string selector;
    std::string txt;
    std::string error;
};
std::vector<ExpectedKey> expected_keys(const IdentityConf& id);

IdentityReport verify_identity(const IdentityConf& id, const std::vector<ExpectedKey>& keys, const dns::Lookup& dns,
                               const Spf& spf, const Dmarc& dmarc, int64_t now);

// The SPF check of verify_identity alone: the SPF policy of `id.domain`
// authorizes each of `id.outbound_ips` (evaluated with libspf2).  sesctl
// also runs it for an identity's return-path domain.
CheckResult check_spf(const IdentityConf& id, const dns::Lookup& dns, const Spf& spf);

// Compare a published DKIM TXT with the expected one: equal p= (spaces
// ignored) and k=.  Pure.
bool dkim_record_matches(std::string_view published, std::string_view expected);

nlohmann::json to_json(const IdentityReport& r);
std::optional<IdentityReport> report_from_json(const nlohmann::json& j);

class VerificationStore;

// The daemon's periodic check: every identity, stored when a store is given.
std::vector<IdentityReport> verify_all(const std::vector<IdentityConf>& ids, const dns::Lookup& dns, const Spf& spf,
                                       const Dmarc& dmarc, VerificationStore* store, int64_t now);

class VerificationStore {
public:
    explicit VerificationStore(std::shared_ptr<store::Env> env);

    // Keeps pending_since from the previous report while still unverified.
    Status save(IdentityReport& r);
    std::optional<IdentityReport> load(std::string_view domain) const;
    std::vector<IdentityReport> all() const;

    // For IdentityStage: the stored state of a domain.
    StatusFn status_fn() const;

    static constexpr std::string_view kTable = "identity_verification";

private:
    std::shared_ptr<store::Env> env_;
};

}  // namespace ses::auth
