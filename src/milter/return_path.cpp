// return_path.cpp -- see return_path.hpp.
#include "milter/return_path.hpp"

#include "mail/address.hpp"
#include "mail/feedback.hpp"
#include "mail/replies.hpp"
#include "milter/runtime.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ses::milter {
namespace {

std::string_view local_part(std::string_view address) {
    size_t at = address.rfind('@');
    return at == std::string_view::npos ? address : address.substr(0, at);
}

// The whole message as received, for the feedback parser.
std::string raw_message(const mail::Message& msg) {
    std::string raw;
    for (const auto& h : msg.headers()) raw += h.name + ":" + h.value + "\r\n";
    raw += "\r\n";
    raw += msg.body();
    return raw;
}

// The record's recipient a report names (Final-Recipient, else
// Original-Recipient); "" when none matches.
std::string match_recipient(const records::MessageRecord& rec, const mail::FeedbackRecipient& r) {
    for (const std::string* a : {&r.address, &r.original}) {
        if (a->empty()) continue;
        for (const auto& rr : rec.recipients)
            if (str::lower(rr.address) == str::lower(*a)) return rr.address;
    }
    return {};
}

}  // namespace

ReturnPathRules ReturnPathRules::from(const config::Config& cfg) {
    ReturnPathRules r;
    if (!cfg.return_path_keys.empty()) r.keys.current = static_cast<uint8_t>(cfg.return_path_keys.front().id);
    for (const auto& k : cfg.return_path_keys) r.keys.secret[static_cast<uint8_t>(k.id)] = k.secret;
    r.tracking_keys = records::tracking_settings(cfg).keys;
    for (const auto& d : cfg.domains) {
        if (d.return_path_domain.empty()) continue;
        r.by_identity[d.name] = d.return_path_domain;
        r.domains.insert(d.return_path_domain);
    }
    return r;
}

bool ReturnPathRules::is_return_path(std::string_view address) const {
    return !domains.empty() && domains.count(str::lower(mail::domain_of(address))) > 0;
}

bool ReturnPathRules::is_fbl(std::string_view address) const {
    return is_return_path(address) && str::lower(local_part(address)) == kFblLocalPart;
}

std::optional<records::Tag> ReturnPathRules::decode(std::string_view address) const {
    if (!is_return_path(address)) return std::nullopt;
    return records::decode_tag(local_part(address), keys);
}

std::optional<records::Token> ReturnPathRules::decode_unsubscribe(std::string_view address) const {
    if (!is_return_path(address) || tracking_keys.secret.empty()) return std::nullopt;
    return records::decode_unsubscribe_local_part(local_part(address), tracking_keys);
}

std::string ReturnPathRules::unsubscribe_address(std::string_view identity, const std::string& message_id) const {
    auto it = by_identity.find(std::string(identity));
    if (it == by_identity.end() || tracking_keys.secret.empty()) return {};
    std::string local =
        records::unsubscribe_local_part({records::TokenKind::unsubscribe, message_id, 0, 0}, tracking_keys);
    return local.empty() ? std::string() : local + "@" + it->second;
}

std::optional<Reply> check_recipient(const ReturnPathRules& rules, const std::vector<std::string>& earlier,
                                     std::string_view rcpt) {
    if (!rules.enabled()) return std::nullopt;
    bool rp = rules.is_return_path(rcpt);
    if (rp && !rules.is_fbl(rcpt) && !rules.decode(rcpt) && !rules.decode_unsubscribe(rcpt))
        return mail::make_reply(mail::ReplyReason::return_path_unknown, "<" + std::string(rcpt) + ">");
    for (const auto& e : earlier)
        if (rules.is_return_path(e) != rp) return mail::make_reply(mail::ReplyReason::return_path_mixed);
    return std::nullopt;
}

std::string tagged_sender(const ReturnPathRules& rules, std::string_view identity, const std::string& message_id,
                          size_t recipients) {
    auto it = rules.by_identity.find(std::string(identity));
    if (it == rules.by_identity.end() || rules.keys.secret.empty()) return {};
    records::Tag t;
    t.message_id = message_id;
    if (recipients == 1) t.recipient = 0;
    return records::make_tag(t, rules.keys) + "@" + it->second;
}

bool is_feedback(const ReturnPathRules& rules, const mail::Message& msg) {
    if (!rules.enabled() || msg.env.rcpts.empty()) return false;
    for (const auto& r : msg.env.rcpts)
        if (!rules.is_return_path(r)) return false;
    return true;
}

// Mail to unsub-TOKEN@: whatever it says, the recipient its token names is
// unsubscribed (RFC 2369 mailto:; the body is not read).
static Status consume_unsubscribe(const mail::Message& msg, const Runtime& rt, std::string& log) {
    if (!rt.services || !rt.services->store || !rt.services->tracking) {
        log += " unsubscribe=not_recorded (no message records)";
        return ok_status();
    }
    int64_t now = clock::now();
    std::string fields;
    Status st = rt.services->store->update([&](store::Txn& txn) -> Status {
        fields.clear();
        for (const auto& rcpt : msg.env.rcpts) {
            auto t = rt.return_path.decode_unsubscribe(rcpt);
            if (!t) continue;  // another kind of return-path address, or a key retired since RCPT
            auto done = rt.services->tracking->unsubscribe(txn, *t, "mailto", now);
            if (!done) return done.error();
            fields += " unsubscribe=" + t->message_id + (*done ? "" : " (no record)");
        }
        return txn.status();
    });
    if (!st) return st;
    log += fields;
    return ok_status();
}

Status consume_feedback(const mail::Message& msg, const Runtime& rt, std::string& log) {
    const ReturnPathRules& rules = rt.return_path;
    bool only_unsubscribe = true;
    for (const auto& r : msg.env.rcpts) {
        if (!rules.decode_unsubscribe(r)) only_unsubscribe = false;
    }
    if (only_unsubscribe) return consume_unsubscribe(msg, rt, log);
    for (const auto& r : msg.env.rcpts)
        if (rules.decode_unsubscribe(r)) {
            if (auto st = consume_unsubscribe(msg, rt, log); !st) return st;
            break;
        }
    mail::Feedback fb = mail::parse_feedback(raw_message(msg), msg.env.mail_from.empty());
    log += " feedback=" + std::string(mail::feedback_kind_name(fb.kind));
    if (!fb.reporting_mta.empty()) log += " reporting_mta=" + fb.reporting_mta;
    // An auto-reply counts nothing; it becomes an `auto_reply` event only.
    if (fb.kind == mail::Feedback::Kind::none) return ok_status();
    if (!rt.services || !rt.services->records || !rt.services->store) {
        log += " (no records: not counted)";
        return ok_status();
    }
    auto& records = *rt.services->records;
    auto hook = services::event_feedback(*rt.services);
    int64_t now = clock::now();
    std::string fields;
    Status st = rt.services->store->update([&](store::Txn& txn) -> Status {
        fields.clear();
        for (const auto& rcpt : msg.env.rcpts) {
            if (rules.decode_unsubscribe(rcpt)) continue;  // consume_unsubscribe's
            std::optional<records::Tag> tag;
            if (rules.is_fbl(rcpt)) {
                // The CFBL-Address: complaints only, named by the id in the
                // original (the address itself names no message).
                if (fb.kind != mail::Feedback::Kind::complaint) {
                    fields += " fbl=not_a_complaint";
                    continue;
                }
                std::string id = fb.ses_message_id.empty() ? fb.cfbl_feedback_id : fb.ses_message_id;
                if (id.empty()) {
                    fields += " fbl=no_message_id";
                    continue;
                }
                tag = records::Tag{};
                tag->message_id = id;
            } else {
                tag = rules.decode(rcpt);
            }
            if (!tag) continue;  // refused at RCPT; a reload may have retired the key since
            auto rec = records.get(txn, tag->message_id);
            if (!rec) {
                fields += " id=" + tag->message_id + " (no record)";
                continue;
            }
            if (rules.is_fbl(rcpt)) {
                // Only complaints about mail that named this address count.
                auto it = rules.by_identity.find(rec->identity);
                if (it == rules.by_identity.end() || it->second != str::lower(mail::domain_of(rcpt))) {
                    fields += " id=" + rec->id + " fbl=other_domain";
                    continue;
                }
            }
            std::string tagged;  // the recipient the tag names (one-recipient messages)
            if (tag->recipient && *tag->recipient < rec->recipients.size())
                tagged = rec->recipients[*tag->recipient].address;
            auto apply = [&](const std::string& address, const records::Outcome& o) -> Status {
                auto events = records.apply(txn, rec->id, address, o);
                if (!events) return events.error();
                fields += " id=" + rec->id + " rcpt=" + address + (events->empty() ? " unchanged" : " counted");
                if (hook)
                    for (const auto& e : *events) hook(txn, *rec, e);
                return ok_status();
            };
            if (fb.kind == mail::Feedback::Kind::dsn) {
                // A non-standard bounce about a several-recipient message:
                // only the recipients its text names with a reply.
                std::vector<mail::FeedbackRecipient> reported = fb.recipients;
                if (!fb.standard && tagged.empty()) {
                    std::vector<std::string> addrs;
                    for (const auto& rr : rec->recipients) addrs.push_back(rr.address);
                    reported = mail::named_recipients(fb.text, addrs);
                } else if (!fb.standard && reported.empty()) {
                    reported = mail::named_recipients(fb.text, {tagged});
                }
                for (const auto& r : reported) {
                    bool failed = r.action == "failed", delayed = r.action == "delayed";
                    if (!failed && !delayed) continue;
                    std::string target = tagged.empty() ? match_recipient(*rec, r) : tagged;
                    if (target.empty()) {
                        fields += " id=" + rec->id + " unmatched=" + r.address;
                        continue;
                    }
                    records::Outcome o;
                    o.kind = failed ? records::Outcome::Kind::bounced : records::Outcome::Kind::deferred;
                    o.dsn = r.status;
                    o.text = r.diagnostic;
                    o.time = now;
                    if (auto s = apply(target, o); !s) return s;
                    if (!tagged.empty()) break;  // one recipient: one report counts
                }
            } else if (fb.kind == mail::Feedback::Kind::auto_reply) {
                // Names its recipient only through the tag (or a message with one).
                std::string target = tagged;
                if (target.empty() && rec->recipients.size() == 1) target = rec->recipients[0].address;
                if (target.empty()) {
                    fields += " id=" + rec->id + " unmatched";
                    continue;
                }
                auto n = records.note(txn, rec->id, target, records::EventType::auto_reply, now);
                if (!n) return n.error();
                fields += " id=" + rec->id + " auto_reply=" + std::to_string(*n);
            } else {  // complaint
                std::string target = tagged;
                if (target.empty() && rec->recipients.size() == 1) target = rec->recipients[0].address;
                for (size_t i = 0; target.empty() && i < fb.recipients.size(); ++i)
                    target = match_recipient(*rec, fb.recipients[i]);
                if (target.empty()) {
                    fields += " id=" + rec->id + " unmatched";
                    continue;
                }
                records::Outcome o;
                o.kind = records::Outcome::Kind::complaint;
                o.text = fb.feedback_type;
                o.time = now;
                if (auto s = apply(target, o); !s) return s;
            }
        }
        return ok_status();
    });
    if (!st) return internal_error("return path: " + st.error().what);
    log += fields;
    return ok_status();
}

}  // namespace ses::milter
