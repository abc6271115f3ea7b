// identity.hpp -- may this outbound message be sent as the identity it names?
//
// At submission the envelope sender's domain and the From: domain must each
// be a configured sending identity ([[domain]]; a parent domain covers its
// subdomains when [dkim] subdomains = true), an authenticated SASL user must
// be listed in the identity's smtp_users (an empty list allows every
// authenticated user), an identity with require_verified = true must have
// been found verified by `sesctl identity verify` (or the daemon's periodic
// check), and the From: domain must align with the DKIM signing domain the
// way DMARC will check it (relaxed: the same organizational domain; strict:
// the same domain).  Anything else is refused with
//   550 5.7.1 <what> <domain> <why>
// decide_identity() is the whole decision, a pure function tested by a
// table; IdentityStage wraps it for the end-of-message pipeline.
// Thread safety: pure / immutable after construction.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dmarc.hpp"
#include "auth/settings.hpp"
#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::auth {

enum class VerifyState { verified, pending, failed };
std::string_view verify_state_name(VerifyState s);  // "verified", "pending", "failed"

// The last stored verification of an identity.
struct IdentityStatus {
    VerifyState state = VerifyState::pending;
    std::string reason;  // first unverified check: "DKIM record s1._domainkey missing"
    int64_t checked_at = 0;
};
using StatusFn = std::function<std::optional<IdentityStatus>(std::string_view domain)>;

struct IdentityInput {
    std::string mail_from;                    // envelope sender without <>, "" for the null sender
    std::vector<std::string> from_addresses;  // addr-specs of the From: header
    std::string auth_user;                    // {auth_authen}, "" when not authenticated
    std::string signing_domain;               // the DKIM d= the signer will use, "" = the From identity
};

struct IdentityContext {
    const std::vector<IdentityConf>* identities = nullptr;
    bool subdomains = true;  // [dkim] subdomains
    OrgDomainFn org;         // organizational domain (PSL)
    StatusFn status;         // stored verification; may be empty when no identity requires it
};

struct IdentityDecision {
    bool allowed = false;
    std::string identity;  // the From identity's configured domain
    Reply reply;           // 550 5.7.1 ... when refused
};

IdentityDecision decide_identity(const IdentityInput& in, const IdentityContext& ctx);

// The configured identity that covers `domain` (exact, else the longest
// parent when subdomains), or nullptr.
const IdentityConf* find_identity(const std::vector<IdentityConf>& ids, std::string_view domain, bool subdomains);

// The end-of-message stage: reads the envelope and From: of the message,
// decides, and answers the 550 as an Error (no edits).  On success the
// From identity's configured domain: the decision later stages (warm-up)
// use instead of resolving the address again.
class IdentityStage {
public:
    IdentityStage(std::vector<IdentityConf> identities, bool subdomains, OrgDomainFn org, StatusFn status);
    Result<std::string> run(const mail::Message& m, std::string_view signing_domain) const;
    const std::vector<IdentityConf>& identities() const { return ids_; }

private:
    std::vector<IdentityConf> ids_;
    bool subdomains_;
    OrgDomainFn org_;
    StatusFn status_;
};

}  // namespace ses::auth
