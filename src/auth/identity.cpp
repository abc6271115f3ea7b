// identity.cpp -- see identity.hpp.
#include "auth/identity.hpp"

#include "mail/address.hpp"
#include "mail/domains.hpp"
#include "mail/replies.hpp"
#include "util/strings.hpp"

namespace ses::auth {

std::string_view verify_state_name(VerifyState s) {
    switch (s) {
        case VerifyState::verified:
            return "verified";
        case VerifyState::pending:
            return "pending";
        case VerifyState::failed:
            return "failed";
    }
    return "pending";
}

namespace {

Reply refuse(const std::string& text) { return mail::make_reply(mail::ReplyReason::identity_refused, text); }

std::string domain_part(std::string_view addr) {
    auto at = addr.rfind('@');
    if (at == std::string_view::npos) return {};
    return mail::canonical_domain(addr.substr(at + 1));
}

bool user_allowed(const IdentityConf& id, std::string_view user) {
    if (user.empty() || id.smtp_users.empty()) return true;
    for (auto& u : id.smtp_users)
        if (str::iequals(u, user)) return true;
    return false;
}

}  // namespace

const IdentityConf* find_identity(const std::vector<IdentityConf>& ids, std::string_view domain_in, bool subdomains) {
    std::vector<std::string> names;
    names.reserve(ids.size());
    for (auto& id : ids) names.push_back(id.domain);
    int i = mail::covering_domain(names, domain_in, subdomains);
    return i < 0 ? nullptr : &ids[static_cast<size_t>(i)];
}

IdentityDecision decide_identity(const IdentityInput& in, const IdentityContext& ctx) {
    IdentityDecision d;
    static const std::vector<IdentityConf> none;
    const auto& ids = ctx.identities ? *ctx.identities : none;

    // From: exactly one mailbox with a domain (RFC 7489 6.6.1 needs one).
    if (in.from_addresses.empty()) {
        d.reply = refuse("message has no From: address; it cannot be sent as any identity");
        return d;
    }
    if (in.from_addresses.size() > 1) {
        d.reply = refuse("From: names " + std::to_string(in.from_addresses.size()) +
                         " addresses; exactly one sending identity is required");
        return d;
    }
    std::string from_domain = domain_part(in.from_addresses[0]);
    if (from_domain.empty()) {
        d.reply = refuse("From: address " + in.from_addresses[0] + " has no domain");
        return d;
    }
    const IdentityConf* from_id = find_identity(ids, from_domain, ctx.subdomains);
    if (!from_id) {
        d.reply = refuse("From: domain " + from_domain + " is not a configured sending identity");
        return d;
    }
    d.identity = from_id->domain;

    const IdentityConf* env_id = nullptr;
    std::string sender_domain;
    if (!in.mail_from.empty()) {
        sender_domain = domain_part(in.mail_from);
        env_id = find_identity(ids, sender_domain, ctx.subdomains);
        if (!env_id) {
            d.reply = refuse("sender domain " + (sender_domain.empty() ? in.mail_from : sender_domain) +
                             " is not a configured sending identity");
            return d;
        }
    }

    for (const IdentityConf* id : {env_id, from_id}) {
        if (!id) continue;
        if (!user_allowed(*id, in.auth_user)) {
            d.reply = refuse("user " + in.auth_user + " is not allowed to send as " + id->domain);
            return d;
        }
    }

    for (const IdentityConf* id : {from_id, env_id}) {
        if (!id || !id->require_verified) continue;
        std::optional<IdentityStatus> st = ctx.status ? ctx.status(id->domain) : std::nullopt;
        if (!st) {
            d.reply = refuse("identity " + id->domain + " not verified: never checked (sesctl identity verify " +
                             id->domain + ")");
            return d;
        }
        if (st->state != VerifyState::verified) {
            d.reply = refuse("identity " + id->domain + " not verified: " +
                             (st->reason.empty() ? std::string(verify_state_name(st->state)) : st->reason));
            return d;
        }
    }

    // DMARC alignment of From: with the DKIM signing domain.
    std::string signing = str::lower(in.signing_domain.empty() ? from_id->domain : in.signing_domain);
    bool strict = from_id->alignment == Alignment::strict;
    OrgDomainFn org = ctx.org ? ctx.org : OrgDomainFn([](std::string_view s) { return std::string(s); });
    if (!aligned(from_domain, signing, strict, org)) {
        d.reply = refuse("From: domain " + from_domain + " does not align with DKIM signing domain " + signing + " (" +
                         (strict ? "strict" : "relaxed") + " alignment)");
        return d;
    }
    d.allowed = true;
    return d;
}

IdentityStage::IdentityStage(std::vector<IdentityConf> identities, bool subdomains, OrgDomainFn org, StatusFn status)
    : ids_(std::move(identities)), subdomains_(subdomains), org_(std::move(org)), status_(std::move(status)) {}

Result<std::string> IdentityStage::run(const mail::Message& m, std::string_view signing_domain) const {
    IdentityInput in;
    in.mail_from = std::string(mail::strip_brackets(m.env.mail_from));
    in.auth_user = m.env.auth_user;
    in.signing_domain = std::string(signing_domain);
    int n = m.count("From");
    for (int i = 1; i <= n; ++i) {
        const mail::Header* h = m.find("From", i);
        auto boxes = mail::mailboxes(mail::unfold(h->value));
        if (boxes.empty()) boxes.push_back(mail::unfold(h->value));  // keep the count honest
        in.from_addresses.insert(in.from_addresses.end(), boxes.begin(), boxes.end());
    }
    IdentityContext ctx{&ids_, subdomains_, org_, status_};
    IdentityDecision d = decide_identity(in, ctx);
    if (d.allowed) return d.identity;
    return Error{"identity: " + d.reply.text, d.reply};
}

}  // namespace ses::auth
