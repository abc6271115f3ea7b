// inbound.cpp -- see inbound.hpp.
#include "auth/inbound.hpp"

#include <unistd.h>

#include <random>

#include "mail/address.hpp"
#include "mail/replies.hpp"
#include "util/strings.hpp"

namespace ses::auth {

std::string host_name() {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
    return buf;
}

namespace {

double default_sample() {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

bool any_temperror(const InboundReport& r) {
    return r.spf.result == SpfResult::temperror || r.dkim.any_temperror() || r.dmarc.result == DmarcResult::temperror;
}

std::string what_failed(const InboundReport& r) {
    std::vector<std::string> parts;
    if (r.spf.result == SpfResult::temperror) parts.push_back("SPF for " + r.spf.domain);
    for (auto& s : r.dkim.signatures)
        if (s.result == "temperror") parts.push_back("DKIM key " + s.selector + "._domainkey." + s.domain);
    if (r.dmarc.result == DmarcResult::temperror && r.dmarc.policy_domain.empty())
        parts.push_back("DMARC record of " + r.from_domain);
    if (parts.empty()) parts.push_back("a DNS lookup");
    std::string out;
    for (size_t i = 0; i < parts.size() && i < 3; ++i) out += (i ? ", " : "") + parts[i];
    return out;
}

}  // namespace

Action decide_action(const InboundReport& r, const VerifySettings& s) {
    Action a;
    if (s.tempfail_on_dns_error && any_temperror(r)) {
        a.kind = Action::Kind::tempfail;
        a.reply = mail::make_reply(mail::ReplyReason::dns_temporary, what_failed(r));
        a.reason = a.reply.text;
        return a;
    }
    if (r.dmarc.result != DmarcResult::fail) return a;
    if (r.dmarc.applied == Policy::reject && s.dmarc_reject) {
        a.kind = Action::Kind::reject;
        a.reply =
            mail::make_reply(mail::ReplyReason::dmarc_reject, r.dmarc.policy_domain + " (" + r.dmarc.reason + ")");
        a.reason = a.reply.text;
        return a;
    }
    if ((r.dmarc.applied == Policy::quarantine || r.dmarc.applied == Policy::reject) && s.dmarc_quarantine) {
        a.kind = Action::Kind::quarantine;
        a.reason = "DMARC policy " + std::string(policy_name(r.dmarc.applied)) + " of " + r.dmarc.policy_domain;
    }
    return a;
}

std::vector<MethodResult> method_results(const InboundReport& r) {
    std::vector<MethodResult> out;
    if (r.dkim.signatures.empty()) {
        out.push_back({"dkim", "none", r.dkim.error, {}});
    } else {
        for (auto& s : r.dkim.signatures) {
            MethodResult m{"dkim", s.result, s.result == "pass" ? "" : s.reason, {}};
            if (!s.domain.empty()) m.props.emplace_back("header.d", s.domain);
            if (!s.selector.empty()) m.props.emplace_back("header.s", s.selector);
            if (!s.header_b.empty()) m.props.emplace_back("header.b", s.header_b.substr(0, 8));
            out.push_back(std::move(m));
        }
    }
    {
        MethodResult m{"spf", std::string(spf_result_name(r.spf.result)), r.spf.comment, {}};
        if (r.spf.scope == "helo")
            m.props.emplace_back("smtp.helo", r.spf.domain);
        else if (!r.spf.identity.empty())
            m.props.emplace_back("smtp.mailfrom", r.spf.identity);
        out.push_back(std::move(m));
    }
    {
        MethodResult m{"dmarc", std::string(dmarc_result_name(r.dmarc.result)), {}, {}};
        if (r.dmarc.result == DmarcResult::pass || r.dmarc.result == DmarcResult::fail) {
            m.comment = "p=" + std::string(policy_name(r.dmarc.policy));
            if (r.dmarc.result == DmarcResult::fail) m.comment += " dis=" + std::string(policy_name(r.dmarc.applied));
        } else if (!r.dmarc.reason.empty()) {
            m.comment = r.dmarc.reason;
        }
        if (!r.from_domain.empty()) m.props.emplace_back("header.from", r.from_domain);
        out.push_back(std::move(m));
    }
    return out;
}

Inbound::Inbound(VerifySettings settings, std::shared_ptr<const Spf> spf, std::shared_ptr<const dkim::Verifier> dkim,
                 std::shared_ptr<const Dmarc> dmarc, std::function<double()> sample)
    : s_(std::move(settings)),
      spf_(std::move(spf)),
      dkim_(std::move(dkim)),
      dmarc_(std::move(dmarc)),
      sample_(sample ? std::move(sample) : std::function<double()>(default_sample)) {
    authserv_id_ = s_.authserv_id.empty() ? host_name() : s_.authserv_id;
}

InboundReport Inbound::verify(const mail::Message& m, bool stop_on_temperror) const {
    InboundReport r;
    auto finish = [&]() -> InboundReport& {
        r.results = method_results(r);
        r.header = format_authentication_results(authserv_id_, r.results);
        return r;
    };
    r.dkim = dkim_->verify(m);
    r.spf.result = SpfResult::none;
    r.spf.comment = "not checked";
    if (stop_on_temperror && r.dkim.any_temperror()) return finish();

    SpfRequest q{m.env.client_addr, m.env.helo, std::string(mail::strip_brackets(m.env.mail_from))};
    if (q.ip.empty()) {
        r.spf.result = SpfResult::none;
        r.spf.scope = q.sender.empty() ? "helo" : "mailfrom";
        r.spf.identity = q.sender;
        r.spf.domain = q.sender.empty() ? q.helo : mail::domain_of(q.sender);
        r.spf.comment = "no client address";
    } else {
        r.spf = q.sender.empty() ? spf_->check_helo(q) : spf_->check_mailfrom(q);
    }
    if (stop_on_temperror && r.spf.result == SpfResult::temperror) return finish();

    int n = m.count("From");
    for (int i = 1; i <= n; ++i) {
        auto boxes = mail::mailboxes(mail::unfold(m.find("From", i)->value));
        r.from_addresses.insert(r.from_addresses.end(), boxes.begin(), boxes.end());
    }
    DmarcInput in;
    if (r.from_addresses.size() == 1) {
        r.from_domain = mail::domain_of(r.from_addresses[0]);
        in.from_domain = r.from_domain;
        in.lookup = dmarc_->fetch(r.from_domain);
    } else {
        // RFC 7489 6.6.1: no or several authors -- no single policy applies.
        in.lookup.status = DmarcResult::none;
        in.lookup.detail = r.from_addresses.empty() ? "no From: address" : "several From: addresses";
    }
    in.spf = r.spf.result;
    in.spf_domain = r.spf.domain;
    for (auto& s : r.dkim.signatures) {
        if (s.result == "pass") in.dkim.push_back({s.domain});
        if (s.result == "temperror") in.dkim_temperror = true;
    }
    in.sample = sample_();
    r.dmarc = evaluate(in, dmarc_->org_fn());
    return finish();
}

Status Inbound::run(mail::Message& m, std::string* log) const {
    InboundReport r = verify(m, s_.tempfail_on_dns_error);

    // Forged results claiming to be ours go, last first (indexes stay valid).
    for (int k = m.count("Authentication-Results"); k >= 1; --k) {
        auto id = auth::authserv_id(m.find("Authentication-Results", k)->value);
        if (id && str::iequals(*id, authserv_id_)) m.delete_header("Authentication-Results", k);
    }

    Action a = decide_action(r, s_);
    std::string summary = "verify: " + r.header;
    for (char& c : summary)
        if (c == '\n' || c == '\t') c = ' ';
    switch (a.kind) {
        case Action::Kind::tempfail:
        case Action::Kind::reject: {
            return Error{summary, a.reply};
        }
        case Action::Kind::quarantine:
            m.quarantine(a.reason);
            break;
        case Action::Kind::annotate:
            break;
    }
    m.insert_header(0, "Authentication-Results", r.header);
    // A field of the message's one log line, not a line of its own.
    if (log) *log += " " + summary + (a.kind == Action::Kind::quarantine ? " -> quarantine" : "");
    return ok_status();
}

}  // namespace ses::auth
