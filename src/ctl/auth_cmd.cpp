// auth_cmd.cpp -- sesctl auth spf / auth verify.
//
//   sesctl auth spf --ip IP --sender ADDR [--helo NAME] [--dns ADDR] [--timeout S]
//       The SPF result (RFC 7208) for a client address and MAIL FROM (the
//       HELO identity for an empty sender), its explanation and comment.
//   sesctl auth verify FILE [--ip IP --sender ADDR --helo NAME] [--dns ADDR]
//       DKIM, SPF and DMARC of a stored message (RFC 5322 file, LF or CRLF),
//       and the Authentication-Results header sesmilter would add.
// Both ask the resolver configured in [dns]; --dns 127.0.0.1@5353 asks that
// server instead.  Exit 0 when the check ran (whatever its result), 1 when
// it could not run, 2 on a usage error.
#include "ctl/auth_cmd.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "auth/dmarc.hpp"
#include "auth/from_config.hpp"
#include "auth/inbound.hpp"
#include "auth/spf.hpp"
#include "dkim/verifier.hpp"
#include "dns/resolver.hpp"
#include "mail/address.hpp"
#include "util/strings.hpp"

namespace ses::ctl {

namespace {

using json = nlohmann::json;

// DNS data is not always UTF-8: never let it break the JSON output.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<std::shared_ptr<dns::Resolver>> resolver_for(Context& c) {
    dns::Settings s = auth::dns_settings(c.cfg);
    if (auto d = c.opt("dns")) s.forwarders = str::split(*d, ',');
    if (auto t = c.opt("timeout")) {
        auto v = str::parse_duration(*t);
        if (!v || *v <= 0) return internal_error("--timeout: not a duration: " + *t);
        s.timeout = *v;
    }
    return dns::Resolver::create(s);
}

std::string receiver(const Context& c) {
    auto v = auth::verify_settings(c.cfg);
    return v.authserv_id.empty() ? auth::host_name() : v.authserv_id;
}

json spf_json(const auth::SpfOutcome& o) {
    return {{"result", std::string(auth::spf_result_name(o.result))},
            {"scope", o.scope},
            {"identity", o.identity},
            {"domain", o.domain},
            {"explanation", o.explanation},
            {"comment", o.comment},
            {"void_lookups", o.void_lookups},
            {"refused_record", o.refused_record}};
}

int cmd_spf(Context& c) {
    auto ip = c.opt("ip");
    auto sender = c.opt("sender");
    auto helo = c.opt("helo");
    if (!ip || (!sender && !helo)) return fail(c, "usage: sesctl auth spf --ip IP --sender ADDR [--helo NAME]", 2);
    auto res = resolver_for(c);
    if (!res) return fail(c, res.error().what);
    auth::Spf spf(*res, receiver(c));
    auth::SpfRequest q{*ip, helo.value_or(""), std::string(mail::strip_brackets(sender.value_or("")))};
    auth::SpfOutcome o = q.sender.empty() ? spf.check_helo(q) : spf.check_mailfrom(q);
    if (c.json) {
        c.out << dump(spf_json(o)) << "\n";
        return 0;
    }
    c.out << "spf=" << auth::spf_result_name(o.result) << " (" << o.scope << " " << o.identity << ")\n";
    if (!o.explanation.empty()) c.out << "explanation: " << o.explanation << "\n";
    if (!o.comment.empty()) c.out << "comment: " << o.comment << "\n";
    return 0;
}

// A stored message: header fields (continuation lines kept, CRLF) and body.
Result<mail::Message> read_message(const std::string& path) {
    std::string raw;
    if (path == "-") {
        raw.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
        std::ifstream in(path, std::ios::binary);
        if (!in) return internal_error(path + ": cannot read");
        raw.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::string s;
    s.reserve(raw.size() + raw.size() / 40);
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) s += '\r';
        s += raw[i];
    }
    mail::Message m;
    size_t pos = 0;
    // An mbox "From " line is not a header field.
    if (s.rfind("From ", 0) == 0) pos = s.find("\r\n") == std::string::npos ? s.size() : s.find("\r\n") + 2;
    while (pos < s.size()) {
        size_t e = s.find("\r\n", pos);
        if (e == std::string::npos) e = s.size();
        if (e == pos) {
            pos += 2;
            break;
        }
        std::string field = s.substr(pos, e - pos);
        size_t next = std::min(e + 2, s.size());
        while (next < s.size() && (s[next] == ' ' || s[next] == '\t')) {
            size_t e2 = s.find("\r\n", next);
            if (e2 == std::string::npos) e2 = s.size();
            field += "\r\n" + s.substr(next, e2 - next);
            next = std::min(e2 + 2, s.size());
        }
        auto colon = field.find(':');
        if (colon == std::string::npos || colon == 0)
            return internal_error(path + ": not a message (line without a header field name: " + field.substr(0, 40) +
                                  ")");
        m.feed_header(field.substr(0, colon), field.substr(colon + 1));
        pos = next;
    }
    if (pos < s.size()) m.feed_body(std::string_view(s).substr(pos));
    return m;
}

int cmd_verify(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl auth verify FILE [--ip IP --sender ADDR --helo NAME]", 2);
    auto msg = read_message(c.args[0]);
    if (!msg) return fail(c, msg.error().what);
    mail::Message& m = *msg;
    m.env.client_addr = c.opt("ip").value_or("");
    m.env.helo = c.opt("helo").value_or("");
    if (auto s = c.opt("sender")) {
        m.env.mail_from = std::string(mail::strip_brackets(*s));
    } else if (auto rp = m.value("Return-Path")) {
        m.env.mail_from = std::string(mail::strip_brackets(str::trim(*rp)));
    }

    auto res = resolver_for(c);
    if (!res) return fail(c, res.error().what);
    std::shared_ptr<const dns::Lookup> dns = *res;
    auth::VerifySettings vs = auth::verify_settings(c.cfg);
    auto spf = std::make_shared<auth::Spf>(dns, receiver(c));
    dkim::VerifierOptions vo;
    vo.timeout = auth::dns_settings(c.cfg).timeout;
    auto dk = std::make_shared<dkim::Verifier>(dns, vo);
    auto dmarc = std::make_shared<auth::Dmarc>(dns, vs.public_suffix_list);
    // pct sampling: report the policy as if the message were in the sample.
    auth::Inbound inbound(vs, spf, dk, dmarc, [] { return 0.0; });
    auth::InboundReport r = inbound.verify(m);
    auth::Action action = auth::decide_action(r, vs);
    static const char* kinds[] = {"annotate", "tempfail", "reject", "quarantine"};

    if (c.json) {
        json sigs = json::array();
        for (auto& s : r.dkim.signatures)
            sigs.push_back({{"domain", s.domain},
                            {"selector", s.selector},
                            {"result", s.result},
                            {"reason", s.reason},
                            {"algorithm", s.algorithm},
                            {"key_bits", s.key_bits},
                            {"header_b", s.header_b}});
        json out = {{"dkim", sigs},
                    {"spf", spf_json(r.spf)},
                    {"dmarc",
                     {{"result", std::string(auth::dmarc_result_name(r.dmarc.result))},
                      {"from_domain", r.from_domain},
                      {"policy_domain", r.dmarc.policy_domain},
                      {"policy", std::string(auth::policy_name(r.dmarc.policy))},
                      {"applied", std::string(auth::policy_name(r.dmarc.applied))},
                      {"spf_aligned", r.dmarc.spf_aligned},
                      {"dkim_aligned", r.dmarc.dkim_aligned},
                      {"reason", r.dmarc.reason}}},
                    {"authentication_results", "Authentication-Results: " + r.header},
                    {"action", kinds[static_cast<int>(action.kind)]},
                    {"reply", action.reply.empty() ? "" : action.reply.str()}};
        c.out << dump(out) << "\n";
        return 0;
    }
    if (r.dkim.signatures.empty()) c.out << "dkim=none (no DKIM-Signature)\n";
    for (auto& s : r.dkim.signatures)
        c.out << "dkim=" << s.result << " d=" << s.domain << " s=" << s.selector
              << (s.reason.empty() ? "" : " (" + s.reason + ")") << "\n";
    c.out << "spf=" << auth::spf_result_name(r.spf.result) << " " << r.spf.scope << " " << r.spf.identity
          << (r.spf.comment.empty() ? "" : " (" + r.spf.comment + ")") << "\n";
    c.out << "dmarc=" << auth::dmarc_result_name(r.dmarc.result) << " from=" << r.from_domain;
    if (!r.dmarc.policy_domain.empty()) c.out << " p=" << auth::policy_name(r.dmarc.policy);
    c.out << (r.dmarc.reason.empty() ? "" : " (" + r.dmarc.reason + ")") << "\n";
    std::string hdr = r.header;
    c.out << "Authentication-Results: " << hdr << "\n";
    c.out << "action: " << kinds[static_cast<int>(action.kind)]
          << (action.reply.empty() ? "" : " " + action.reply.str()) << "\n";
    return 0;
}

}  // namespace

std::vector<Command> auth_commands() {
    return {
        {"auth spf", "--ip IP --sender ADDR [--helo NAME] [--dns HOST@PORT] [--timeout SECONDS]",
         "SPF result and explanation for a client address and envelope sender", cmd_spf},
        {"auth verify", "FILE [--ip IP --sender ADDR --helo NAME] [--dns HOST@PORT] [--timeout SECONDS]",
         "DKIM, SPF and DMARC results and the Authentication-Results header for a stored message", cmd_verify},
    };
}

}  // namespace ses::ctl
