// pipeline.cpp -- see pipeline.hpp.
#include "milter/pipeline.hpp"

#include "mail/address.hpp"
#include "mail/header_check.hpp"

namespace ses::milter {
namespace {

// DKIM signing: the last change made to the message.
Status sign_stage(mail::Message& msg, const Runtime& rt, std::string& log) {
    std::string from_domain;
    if (auto from = msg.value("From")) {
        auto boxes = mail::mailboxes(*from);
        if (!boxes.empty()) from_domain = mail::domain_of(boxes.front());
    }
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
    return Reply{"552", "5.3.4", "message size exceeds fixed maximum message size of " + std::to_string(limit) + " bytes"};
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
    // Stages to come, in this order: identity, template, tracking, warm-up.
    if (auto st = sign_stage(msg, rt, log); !st) return fail(st.error());

    Verdict v;
    v.log = "accept:" + log;
    return v;
}

}  // namespace ses::milter
