// pipeline.cpp -- see pipeline.hpp.
#include "milter/pipeline.hpp"

#include "mail/address.hpp"
#include "mail/header_check.hpp"
#include "mail/long_lines.hpp"
#include "template/stage.hpp"
#include "util/log.hpp"

namespace ses::milter {
namespace {

std::string from_domain_of(const mail::Message& msg) {
    if (auto from = msg.value("From")) {
        auto boxes = mail::mailboxes(*from);
        if (!boxes.empty()) return mail::domain_of(boxes.front());
    }
    return {};
}

// Warm-up: the identity is the configured [[domain]] the From: (else the
// envelope sender) belongs to, or that domain itself when none matches.
Status warmup_stage(mail::Message& msg, const Runtime& rt, std::string& log) {
    if (!rt.services || !rt.services->warmup) return ok_status();
    std::string dom = from_domain_of(msg);
    if (dom.empty()) dom = mail::domain_of(msg.env.mail_from);
    std::vector<std::string> names;
    for (auto& d : rt.cfg.domains) names.push_back(d.name);
    if (int i = dkim::match_domain(names, dom, rt.cfg.dkim.subdomains); i >= 0) dom = names[static_cast<size_t>(i)];
    const auto& ips = rt.services->warmup_settings.outbound_ips;
    size_t edits = msg.edits().size();
    if (auto st = warmup::apply(*rt.services->warmup, msg, dom, ips.size() == 1 ? ips[0] : std::string()); !st)
        return st;
    bool held = false;
    for (size_t i = edits; i < msg.edits().size(); ++i)
        held = held || msg.edits()[i].kind == mail::Edit::Kind::quarantine;
    log += held ? " warmup=held identity=" + dom : " warmup=ok identity=" + dom;
    return ok_status();
}

// Templates: render X-SES-Template messages; a RenderingFailure is stored
// for the statistics.
Status template_stage(mail::Message& msg, const Runtime& rt, std::string& log) {
    if (!rt.services || !rt.services->templates || !rt.templates_enabled) return ok_status();
    tmpl::Settings s;
    s.max_message_size = rt.cfg.milter.max_message_size;
    tmpl::RenderingFailure failure;
    Status st = tmpl::template_stage(msg, *rt.services->templates, s, &failure, &log);
    if (!st && !st.error().reply.empty()) {
        if (auto rec = rt.services->templates->record_failure(failure); !rec)
            log::warn(msg.env.queue_id + ": rendering failure not recorded: " + rec.error().what);
    }
    return st;
}

// Lines over 998 octets, which the MTA would fold after signing: only
// messages that will be signed; see mail/long_lines.hpp.
Status long_line_stage(mail::Message& msg, const Runtime& rt, std::string& log) {
    if (msg.body_data().longest_line() <= mail::kMaxLineOctets) return ok_status();
    if (!rt.keys.select(from_domain_of(msg), mail::domain_of(msg.env.mail_from))) return ok_status();
    auto st = mail::fix_long_lines(msg, mail::long_line_policy(rt.cfg.str("dkim.long_lines")));
    if (st) log += " long-lines=reencoded";
    return st;
}

// DKIM signing: the last change made to the message.
Status sign_stage(mail::Message& msg, const Runtime& rt, std::string& log) {
    std::string from_domain = from_domain_of(msg);
    std::string sender_domain = mail::domain_of(msg.env.mail_from);
    const dkim::DomainKeys* dk = rt.keys.select(from_domain, sender_domain);
    if (!dk) {
        log += " dkim=none (no key for " + (from_domain.empty() ? sender_domain : from_domain) + ")";
        return ok_status();
    }
    auto sigs = rt.signer->sign(msg, *dk);
    if (!sigs) return sigs.error();
    // Each signature goes on top, so the message reads newest first, as
    // trace fields do; the order among our own signatures does not matter.
    std::string sels;
    for (size_t i = 0; i < sigs->size(); ++i) {
        msg.insert_header(0, "DKIM-Signature", std::move((*sigs)[i]));
        sels += (i ? "," : "") + dk->keys[i].selector;
    }
    log += " dkim=signed d=" + dk->domain + " s=" + sels;
    return ok_status();
}

}  // namespace

Reply size_reply(uint64_t limit) {
    return Reply{"552", "5.3.4",
                 "message size exceeds fixed maximum message size of " + std::to_string(limit) + " bytes"};
}

Verdict verdict_for(const Error& e, config::OnError on_error) {
    Verdict v;
    if (!e.reply.empty()) {
        v.kind = e.reply.permanent() ? Verdict::Kind::reject : Verdict::Kind::tempfail;
        v.reply = e.reply;
        v.apply_edits = false;
        v.log = (v.kind == Verdict::Kind::reject ? "reject: " : "tempfail: ") + e.reply.str();
        return v;
    }
    v.apply_edits = false;
    if (on_error == config::OnError::accept) {
        v.kind = Verdict::Kind::accept;
        v.log = "internal error (on_error=accept, passed unchanged): " + e.what;
    } else {
        v.kind = Verdict::Kind::tempfail;
        v.reply = Reply{"451", "4.3.0", "temporary failure in sesmilter, try again later"};
        v.log = "internal error (on_error=tempfail): " + e.what;
    }
    return v;
}

Verdict end_of_message(mail::Message& msg, const Runtime& rt) {
    std::string log;
    auto fail = [&](const Error& e) { return verdict_for(e, rt.cfg.milter.on_error); };

    if (auto st = mail::check_headers(msg); !st) return fail(st.error());

    if (rt.auth && !rt.auth->is_outbound(msg.env)) {
        // Inbound: checked and annotated, never signed or counted.
        if (rt.auth->inbound) {
            if (auto st = rt.auth->inbound->run(msg); !st) return fail(st.error());
            log += " inbound verified";
        } else {
            log += " inbound";
        }
        Verdict v;
        v.log = "accept:" + log;
        return v;
    }
    if (rt.auth) {
        const dkim::DomainKeys* dk = rt.keys.select(from_domain_of(msg), mail::domain_of(msg.env.mail_from));
        if (auto st = rt.auth->identity->run(msg, dk ? dk->domain : std::string()); !st) return fail(st.error());
    }
    if (auto st = template_stage(msg, rt, log); !st) return fail(st.error());
    // Tracking (open pixel, click rewriting) goes here, before warm-up.
    // Long lines are checked after every stage that may rewrite the body and
    // before warm-up counts the message.
    if (auto st = long_line_stage(msg, rt, log); !st) return fail(st.error());
    if (auto st = warmup_stage(msg, rt, log); !st) return fail(st.error());
    if (auto st = sign_stage(msg, rt, log); !st) return fail(st.error());

    Verdict v;
    v.log = "accept:" + log;
    return v;
}

}  // namespace ses::milter
