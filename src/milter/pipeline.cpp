// pipeline.cpp -- see pipeline.hpp.
#include "milter/pipeline.hpp"

#include <atomic>
#include <memory>

#include "mail/address.hpp"
#include "mail/domains.hpp"
#include "mail/header_check.hpp"
#include "mail/replies.hpp"
#include "mail/long_lines.hpp"
#include "mail/tracking_rewrite.hpp"
#include "milter/return_path.hpp"
#include "mta/pools.hpp"
#include "records/return_path.hpp"
#include "records/simulator.hpp"
#include "records/submission_id.hpp"
#include "records/suppression.hpp"
#include "records/tracking.hpp"
#include "template/stage.hpp"
#include "util/clock.hpp"
#include "services/metrics.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"
#include "warmup/routing.hpp"

namespace ses::milter {
namespace {

std::atomic<uint64_t> g_warmup_skipped{0};
std::atomic<uint64_t> g_records_skipped{0};

std::string from_domain_of(const mail::Message& msg) {
    if (auto from = msg.value("From")) {
        auto boxes = mail::mailboxes(*from);
        if (!boxes.empty()) return mail::domain_of(boxes.front());
    }
    return {};
}

// A recipient the recipient stage took out of the message: on the
// suppression list, or a mailbox simulator address.
struct Removed {
    std::string address;                                  // as given at RCPT
    std::optional<records::Scenario> scenario;            // a simulator recipient
    std::optional<records::SuppressionEntry> suppressed;  // a listed one
};

// What earlier stages decided, for the later ones: one message, one
// identity, one set of signing keys.
struct Decided {
    std::vector<Removed> removed;            // recipients no longer in the message
    std::string identity;                    // the configured [[domain]] the message is sent as
    const dkim::DomainKeys* keys = nullptr;  // signing keys; nullptr: sign nothing
    bool degraded = false;                   // a stage was skipped per on_error = accept
    bool held = false;                       // warm-up put the message in the hold queue
    std::string template_name;               // X-SES-Template as submitted, if any
    std::function<Status()> commit;          // the record's store write, run after the edits
    // The message id, made before the template stage when there are
    // message records (else by the record stage), and the original URLs of
    // the rewritten links (written with the record).
    std::string message_id;
    bool unsubscribe = false;  // an API submission asked for List-Unsubscribe
    std::vector<std::string> links;
    warmup::Route route;  // the [[pool]] address the message leaves from ("" without pools)
};

// Without an identity stage (no [auth] runtime, unit tests): the
// configured domain covering the From: domain (else the envelope sender's),
// or that domain itself when none does.
std::string resolve_identity(const mail::Message& msg, const Runtime& rt) {
    std::string dom = from_domain_of(msg);
    if (dom.empty()) dom = mail::domain_of(msg.env.mail_from);
    std::vector<std::string> names;
    for (auto& d : rt.cfg.domains) names.push_back(d.name);
    if (int i = mail::covering_domain(names, dom, rt.cfg.dkim.subdomains); i >= 0)
        return mail::canonical_domain(names[static_cast<size_t>(i)]);
    return mail::canonical_domain(dom);
}

// Warm-up counts and may hold the message under the identity decided
// before.  Its failures are the store's: with on_error = accept the
// message goes on (still signed) without warm-up, at warning level.
Status warmup_stage(mail::Message& msg, const Runtime& rt, Decided& d, std::string& log) {
    const config::PoolConf* pool = warmup::pool_for(rt.cfg, d.identity);
    // A client's own routing header would choose the address (docs/pools.md).
    if (pool) msg.delete_all(std::string(mta::kPoolHeader));
    bool engine = rt.services && rt.services->warmup;
    if (pool && !engine) d.route = warmup::Route{pool->name, pool->addresses.front(), {}};
    if (!engine) return ok_status();
    const auto& ips = rt.services->warmup_settings.outbound_ips;
    size_t edits = msg.edits().size();
    std::string fields;
    Status st =
        pool ? warmup::apply_routed(*rt.services->warmup, msg, d.identity, *pool, rt.cfg.pools, d.route, &fields)
             : warmup::apply(*rt.services->warmup, msg, d.identity, ips.size() == 1 ? ips[0] : std::string(), &fields);
    if (!st) {
        if (!st.error().reply.empty()) return st;
        if (rt.cfg.milter.on_error != config::OnError::accept) return internal_error("warm-up: " + st.error().what);
        g_warmup_skipped.fetch_add(1);
        d.degraded = true;
        if (pool) d.route = warmup::Route{pool->name, pool->addresses.front(), {}};
        log += " warmup=skipped (on_error=accept: " + st.error().what + ")";
        return ok_status();
    }
    bool held = false;
    for (size_t i = edits; i < msg.edits().size(); ++i)
        held = held || msg.edits()[i].kind == mail::Edit::Kind::quarantine;
    d.held = held;
    if (held) metrics::global().inc(metrics::kHolds);
    log += fields;
    return ok_status();
}

// The route to the pool address, after signing so that no signature covers
// it (Postfix matches it with milter_header_checks; docs/pools.md).
void pool_stage(mail::Message& msg, const Decided& d, std::string& log) {
    if (d.route.address.empty()) return;
    msg.add_header(std::string(mta::kPoolHeader), mta::pool_header_value(d.route.pool, d.route.address));
    log += " pool=" + d.route.pool + " address=" + d.route.address;
    if (!d.route.overflow_from.empty()) log += " overflow_from=" + d.route.overflow_from;
    metrics::global().inc(metrics::kPoolMessages, {{"pool", d.route.pool},
                                                   {"address", d.route.address},
                                                   {"decision", d.held                           ? "held"
                                                                : !d.route.overflow_from.empty() ? "overflow"
                                                                                                 : "routed"}});
}

// Suppressed and simulator recipients leave the message here, before
// warm-up counts recipients (they use no quota and no reputation) and
// before the record (which lists them with what became of them).  One
// read transaction, one cursor seek per recipient.  A store failure is
// warm-up's case: with on_error = accept the message goes on unchecked
// against the list, at warning level.
Status recipient_stage(mail::Message& msg, const Runtime& rt, Decided& d, std::string& log) {
    const records::SimulatorSettings& sim = rt.settings.simulator;
    std::vector<std::optional<Removed>> out(msg.env.rcpts.size());
    bool lookup = false;
    for (size_t i = 0; i < msg.env.rcpts.size(); ++i) {
        if (auto sc = records::scenario_of(sim, msg.env.rcpts[i]))
            out[i] = Removed{msg.env.rcpts[i], sc, std::nullopt};
        else
            lookup = true;
    }
    const records::SuppressionList* list = rt.services && rt.services->store ? rt.services->suppression.get() : nullptr;
    if (list && lookup) {
        int64_t now = clock::now();
        Status st = rt.services->store->view([&](store::Txn& txn) -> Status {
            for (size_t i = 0; i < msg.env.rcpts.size(); ++i) {
                if (out[i]) continue;
                if (auto e = list->find(txn, msg.env.rcpts[i], d.identity, now))
                    out[i] = Removed{msg.env.rcpts[i], std::nullopt, std::move(e)};
            }
            return txn.status();
        });
        if (!st) {
            if (rt.cfg.milter.on_error != config::OnError::accept)
                return internal_error("suppression list: " + st.error().what);
            for (auto& o : out)
                if (o && o->suppressed) o.reset();
            d.degraded = true;
            log += " suppression=skipped (on_error=accept: " + st.error().what + ")";
        }
    }
    // From the last, so that the indexes of the others hold.
    for (size_t i = out.size(); i-- > 0;) {
        if (!out[i]) continue;
        msg.delete_rcpt(i);
    }
    for (auto& o : out) {
        if (!o) continue;
        if (o->scenario)
            log += " simulator=" + o->address + "(" + std::string(records::scenario_name(*o->scenario)) + ")";
        else
            log += " suppressed=" + o->address + "(" + std::string(records::reason_name(o->suppressed->reason)) + ")";
        d.removed.push_back(std::move(*o));
    }
    return ok_status();
}

// The message record: an id (the X-SES-Message-ID header, added before
// signing so the signature covers it), the return path, and the record with
// one entry per recipient.  The record is not written here: the store write
// goes into Decided::commit and the edge runs it once the MTA has accepted
// the edits (commit_after_edits), so a refused edit leaves no record.
Status record_stage(mail::Message& msg, const Runtime& rt, Decided& d, std::string& log) {
    if (!rt.services || !rt.services->records || !rt.services->store) return ok_status();
    int64_t now = clock::now();
    auto rec = std::make_shared<records::MessageRecord>();
    rec->id = d.message_id.empty() ? records::new_message_id(now * 1000) : d.message_id;
    rec->queue_id = msg.env.queue_id;
    rec->identity = d.identity;
    rec->sender = msg.env.mail_from;
    if (auto from = msg.value("From")) {
        auto boxes = mail::mailboxes(*from);
        if (!boxes.empty()) rec->from = boxes.front();
    }
    rec->subject = msg.value("Subject").value_or("");
    rec->template_name = d.template_name;
    rec->pool = d.route.pool;
    rec->source_address = d.route.address;
    rec->overflow_from = d.route.overflow_from;
    rec->size = msg.size();
    rec->request_time = now;
    for (const auto& r : msg.env.rcpts) {
        records::RecipientRecord rr;
        rr.address = r;
        rr.state.request_time = now;
        rr.state.send_status = d.held ? records::send_status::daily_limit : records::send_status::accepted;
        rec->recipients.push_back(std::move(rr));
    }
    // The removed ones after the live ones: a one-recipient tag names index 0.
    for (const auto& r : d.removed) {
        records::RecipientRecord rr;
        rr.address = r.address;
        rr.state.request_time = now;
        rr.state.simulated = r.scenario.has_value();
        bool drop = r.suppressed || r.scenario == records::Scenario::suppressed;
        if (drop) {
            rr.state.send_status = records::send_status::suppressed;
            rr.state.deliver = records::Deliver::dropped;
            rr.state.deliver_time = now;
            rr.state.deliver_message =
                r.suppressed ? "suppressed: " + std::string(records::reason_name(r.suppressed->reason)) +
                                   (r.suppressed->scope.empty() ? "" : " (identity " + r.suppressed->scope + ")")
                             : "suppressed (mailbox simulator)";
        }
        rec->recipients.push_back(std::move(rr));
    }
    // The simulator's scenarios happen at once, in the record's transaction.
    std::vector<std::pair<std::string, records::Scenario>> scenarios;
    for (const auto& r : d.removed)
        if (r.scenario) scenarios.emplace_back(r.address, *r.scenario);
    d.commit = [store = rt.services->store, recs = rt.services->records, tracking = rt.services->tracking, rec,
                scenarios, links = std::move(d.links), now]() -> Status {
        return store->update([&](store::Txn& txn) -> Status {
            if (auto s = recs->add(txn, *rec); !s) return s;
            if (!links.empty() && tracking)
                if (auto s = tracking->put_links(txn, rec->id, links); !s) return s;
            for (const auto& [address, scenario] : scenarios)
                for (const auto& o : records::scenario_outcomes(scenario, address, now))
                    if (auto ev = recs->apply(txn, rec->id, address, o); !ev) return ev.error();
            return txn.status();
        });
    };
    // A client's own X-SES-Message-ID would name another message.
    msg.delete_all("X-SES-Message-ID");
    msg.add_header("X-SES-Message-ID", rec->id);
    log += " id=" + rec->id;
    // Bounces and complaints come back to a tag naming this record.
    if (std::string rp = tagged_sender(rt.return_path, d.identity, rec->id, msg.env.rcpts.size()); !rp.empty()) {
        // ENVID (RFC 3461) names the record in DSNs that carry it
        // (Original-Envelope-Id), even where the tag is rewritten.
        msg.change_from(rp, "ENVID=" + rec->id);
        log += " return_path=" + rp;
        // Complaint feedback loops (RFC 9477) report to the return-path
        // domain; the id names the record.  Before signing: both are in the
        // default sign_headers, as the RFC requires.  A client's own would
        // send the complaints elsewhere.
        msg.delete_all("CFBL-Address");
        msg.delete_all("CFBL-Feedback-ID");
        msg.add_header("CFBL-Address", std::string(kFblLocalPart) + "@" + rt.return_path.by_identity.at(d.identity));
        msg.add_header("CFBL-Feedback-ID", rec->id);
    }
    return ok_status();
}

// A `rendering_failure` event per recipient (docs/events.md): the message
// was refused, so it has no record and the events carry no message id.
void record_rendering_failure(const services::Services& sv, const mail::Message& msg, const tmpl::RenderingFailure& f,
                              std::string& log) {
    Status st = sv.store->update([&](store::Txn& txn) -> Status {
        for (const auto& rcpt : msg.env.rcpts) {
            records::Event e;
            e.time = f.time ? f.time : clock::now();
            e.recipient = rcpt;
            e.type = records::EventType::rendering_failure;
            e.text = records::bounded((f.template_name.empty() ? "" : f.template_name + ": ") + f.reason);
            if (auto s = sv.records->record_event(txn, e); !s) return s;
        }
        return ok_status();
    });
    if (!st) log += " (rendering_failure event not recorded: " + st.error().what + ")";
}

// Templates: render X-SES-Template messages; a RenderingFailure is stored
// for the statistics.  {{unsubscribe_url}} is ours (reserved, docs/templates.md).
Status template_stage(mail::Message& msg, const Runtime& rt, const std::string& unsubscribe_url, std::string& log) {
    if (!rt.services || !rt.services->templates || !rt.settings.templates_enabled) return ok_status();
    tmpl::Settings s;
    s.max_message_size = rt.cfg.milter.max_message_size;
    s.reserved["unsubscribe_url"] = unsubscribe_url;
    tmpl::RenderingFailure failure;
    Status st = tmpl::template_stage(msg, *rt.services->templates, s, &failure, &log);
    if (!st && !st.error().reply.empty()) {
        if (auto rec = rt.services->templates->record_failure(failure); !rec)
            log += " (rendering failure not recorded: " + rec.error().what + ")";
        if (rt.services->records && rt.services->store) record_rendering_failure(*rt.services, msg, failure, log);
    }
    return st;
}

// A header value as one line (GMime gets it in a synthetic header block).
std::string unfolded(const mail::Message& msg, const char* name) {
    std::string v = msg.value(name).value_or("");
    std::string out;
    for (char c : v)
        if (c != '\r' && c != '\n') out.push_back(c);
    return out;
}

// sesmilter's own submissions (the sending API, tasks) name their message
// id in an authenticated header (records/submission_id.hpp).  The header is
// internal: it is removed whether or not it verifies, so a forged one
// neither names a record nor reaches the recipient.
void submission_stage(mail::Message& msg, const Runtime& rt, Decided& d, std::string& log) {
    auto v = msg.value(std::string(records::kSubmissionHeader));
    if (!v) return;
    msg.delete_all(std::string(records::kSubmissionHeader));
    if (rt.services && !rt.services->submission_key.empty())
        if (auto sub = records::check_submission(rt.services->submission_key, *v, msg.env.rcpts)) {
            d.message_id = sub->id;
            d.unsubscribe = sub->unsubscribe;
            log += " submission=api";
            return;
        }
    log += " submission=refused (header removed)";
}

const config::DomainConf* tracked_domain(const Runtime& rt, const Decided& d) {
    for (const auto& c : rt.cfg.domains)
        if (c.name == d.identity)
            return (c.track_opens || c.track_clicks || c.unsubscribe || d.unsubscribe) && rt.services &&
                           rt.services->records && rt.services->store && rt.services->tracking
                       ? &c
                       : nullptr;
    return nullptr;
}

// The one-click URL (List-Unsubscribe and {{unsubscribe_url}}): only for a
// one-recipient message of an identity with unsubscribe on, since the token
// must name the recipient; "" otherwise.
std::string unsubscribe_url(const mail::Message& msg, const Runtime& rt, const Decided& d) {
    const config::DomainConf* dom = tracked_domain(rt, d);
    if (!dom || !(dom->unsubscribe || d.unsubscribe) || msg.env.rcpts.size() != 1 || d.message_id.empty()) return {};
    return rt.settings.public_base + "/u/" +
           records::make_token({records::TokenKind::unsubscribe, d.message_id, 0, 0},
                               rt.services->tracking->settings().keys);
}

// Open and click tracking and the List-Unsubscribe fields, per identity
// (docs/tracking.md).  Tokens name the message id (made before the template
// stage); the original URLs go into the record's transaction.  Without
// message records nothing could be recorded or redirected: the stage is
// skipped.
Status tracking_stage(mail::Message& msg, const Runtime& rt, Decided& d, std::string& log) {
    const config::DomainConf* dom = nullptr;
    for (const auto& c : rt.cfg.domains)
        if (c.name == d.identity) dom = &c;
    if (!dom || !(dom->track_opens || dom->track_clicks || dom->unsubscribe || d.unsubscribe)) return ok_status();
    if (!tracked_domain(rt, d)) {
        log += " tracking=off (no message records)";
        return ok_status();
    }
    const std::string& base = rt.settings.public_base;
    const records::TagKeys& keys = rt.services->tracking->settings().keys;
    if (d.message_id.empty()) d.message_id = records::new_message_id(clock::now() * 1000);
    const std::string unsub = unsubscribe_url(msg, rt, d);
    // The recipient is named only when the message has one (as return-path
    // tags do): with several, a token could not tell them apart.
    std::optional<uint16_t> rcpt;
    if (msg.env.rcpts.size() == 1) rcpt = 0;
    auto token = [&](records::TokenKind k, uint16_t link) {
        return records::make_token({k, d.message_id, rcpt, link}, keys);
    };
    if (dom->track_opens || dom->track_clicks) {
        mail::TrackingRewrite rw;
        std::vector<std::string> links;
        if (dom->track_clicks)
            rw.link = [&](std::string_view url) -> std::string {
                // {{unsubscribe_url}} stays itself: the page it opens is ours.
                if (links.size() >= 0xFFFF || (!unsub.empty() && url == unsub)) return {};
                links.emplace_back(url);
                return base + "/c/" + token(records::TokenKind::click, static_cast<uint16_t>(links.size() - 1));
            };
        if (dom->track_opens) rw.pixel_url = base + "/o/" + token(records::TokenKind::open, 0);
        std::string body;
        try {
            body = msg.body();
        } catch (const std::exception& e) {
            return internal_error(std::string("tracking: ") + e.what());
        }
        auto r = mail::rewrite_html_parts(unfolded(msg, "Content-Type"), unfolded(msg, "Content-Transfer-Encoding"),
                                          body, rw);
        if (!r) return internal_error("tracking: " + r.error().what);
        if (*r) {
            msg.replace_body(std::move(**r));
            log += " tracking=links:" + std::to_string(links.size()) + (dom->track_opens ? ",pixel" : "");
            d.links = std::move(links);
        } else {
            log += " tracking=no-html";
        }
    }
    if (dom->unsubscribe || d.unsubscribe) {
        if (rcpt) {
            // A client's own pair would point elsewhere and is replaced.
            msg.delete_all("List-Unsubscribe");
            msg.delete_all("List-Unsubscribe-Post");
            // RFC 2369's mailto: beside the URL, for clients without
            // one-click; to the return path, which consumes it.
            std::string mailto = rt.return_path.unsubscribe_address(d.identity, d.message_id);
            msg.add_header("List-Unsubscribe",
                           "<" + unsub + ">" + (mailto.empty() ? "" : ", <mailto:" + mailto + "?subject=unsubscribe>"));
            msg.add_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
            log += mailto.empty() ? " unsubscribe=one-click" : " unsubscribe=one-click,mailto";
        } else {
            log += " unsubscribe=skipped (several recipients)";
        }
    }
    return ok_status();
}

// Lines over 998 octets, which the MTA would fold after signing: only
// messages that will be signed; see mail/long_lines.hpp.
Status long_line_stage(mail::Message& msg, const Runtime& rt, const Decided& d, std::string& log) {
    if (msg.body_data().longest_line() <= mail::kMaxLineOctets) return ok_status();
    if (!d.keys) return ok_status();
    auto st = mail::fix_long_lines(msg, rt.settings.long_lines);
    if (st) log += " long-lines=reencoded";
    return st;
}

// DKIM signing: the last change made to the message, with the keys the
// identity stage checked alignment against.
Status sign_stage(mail::Message& msg, const Runtime& rt, const Decided& d, std::string& log) {
    if (!d.keys) {
        std::string from_domain = from_domain_of(msg);
        log +=
            " dkim=none (no key for " + (from_domain.empty() ? mail::domain_of(msg.env.mail_from) : from_domain) + ")";
        return ok_status();
    }
    auto sigs = rt.signer->sign(msg, *d.keys);
    if (!sigs) return sigs.error();
    // Each signature goes on top, so the message reads newest first, as
    // trace fields do; the order among our own signatures does not matter.
    std::string sels;
    for (size_t i = 0; i < sigs->size(); ++i) {
        msg.insert_header(0, "DKIM-Signature", std::move((*sigs)[i]));
        sels += (i ? "," : "") + d.keys->keys[i].selector;
        metrics::global().inc(metrics::kSignatures,
                              {{"algorithm", std::string(dkim::algorithm_name(d.keys->keys[i].algorithm))}});
    }
    log += " dkim=signed d=" + d.keys->domain + " s=" + sels;
    return ok_status();
}

}  // namespace

uint64_t warmup_skipped_count() { return g_warmup_skipped.load(); }
uint64_t records_skipped_count() { return g_records_skipped.load(); }

Reply size_reply(uint64_t limit) {
    return mail::make_reply(mail::ReplyReason::message_too_large, std::to_string(limit));
}

log::Level log_level(const Verdict& v) {
    if (v.internal) return log::Level::error;
    if (v.degraded) return log::Level::warning;
    return v.kind == Verdict::Kind::accept || v.kind == Verdict::Kind::discard ? log::Level::info : log::Level::notice;
}

Verdict verdict_for(const Error& e, config::OnError on_error) {
    Verdict v;
    if (!e.reply.empty()) {
        v.kind = e.reply.permanent() ? Verdict::Kind::reject : Verdict::Kind::tempfail;
        v.reply = e.reply;
        v.apply_edits = false;
        v.log = (v.kind == Verdict::Kind::reject ? "reject: " : "tempfail: ") + e.reply.str();
        if (!e.what.empty() && e.what != e.reply.text) v.log += " (" + e.what + ")";
        return v;
    }
    v.apply_edits = false;
    v.internal = true;
    if (on_error == config::OnError::accept) {
        v.kind = Verdict::Kind::accept;
        v.log = "internal error (on_error=accept, passed unchanged and unsigned): " + e.what;
    } else {
        v.kind = Verdict::Kind::tempfail;
        v.reply = mail::make_reply(mail::ReplyReason::internal_failure);
        v.log = "internal error (on_error=tempfail): " + e.what;
    }
    return v;
}

Verdict end_of_message(mail::Message& msg, const Runtime& rt) {
    std::string log;
    auto fail = [&](const Error& e) {
        Verdict v = verdict_for(e, rt.cfg.milter.on_error);
        if (!log.empty()) v.log += ";" + log;  // what the stages before had found
        return v;
    };

    // Feedback to the return path is consumed whoever sends it: it is
    // neither signed nor held to the header rules of outbound mail.
    if (is_feedback(rt.return_path, msg)) {
        if (auto st = consume_feedback(msg, rt, log); !st) return fail(st.error());
        Verdict v;
        v.kind = Verdict::Kind::discard;
        v.apply_edits = false;
        v.log = "discard:" + log;
        return v;
    }
    if (auto st = mail::check_headers(msg); !st) return fail(st.error());

    if (rt.auth && !rt.auth->is_outbound(msg.env)) {
        // Inbound: checked and annotated, never signed or counted.
        if (rt.auth->inbound) {
            if (auto st = rt.auth->inbound->run(msg, &log); !st) return fail(st.error());
        } else {
            log += " inbound";
        }
        Verdict v;
        v.log = "accept:" + log;
        return v;
    }
    Decided d;
    d.keys = rt.keys.select(from_domain_of(msg), mail::domain_of(msg.env.mail_from));
    if (rt.auth) {
        auto id = rt.auth->identity->run(msg, d.keys ? d.keys->domain : std::string());
        if (!id) return fail(id.error());
        d.identity = *id;
    } else {
        d.identity = resolve_identity(msg, rt);
    }
    log += " identity=" + d.identity;
    submission_stage(msg, rt, d, log);
    d.template_name = msg.value("X-SES-Template").value_or("");
    // The message id exists before the templates: {{unsubscribe_url}} and
    // the tracking tokens name it.
    if (rt.services && rt.services->records && d.message_id.empty())
        d.message_id = records::new_message_id(clock::now() * 1000);
    if (auto st = template_stage(msg, rt, unsubscribe_url(msg, rt, d), log); !st) return fail(st.error());
    if (auto st = tracking_stage(msg, rt, d, log); !st) return fail(st.error());
    // Long lines are checked after every stage that may rewrite the body and
    // before warm-up counts the message.
    if (auto st = long_line_stage(msg, rt, d, log); !st) return fail(st.error());
    if (auto st = recipient_stage(msg, rt, d, log); !st) return fail(st.error());
    if (msg.env.rcpts.empty() && !d.removed.empty()) {
        // Every recipient suppressed or simulated: recorded, then consumed
        // (the client gets 250, as from a cloud SES that drops the mail).
        if (auto st = record_stage(msg, rt, d, log); !st) return fail(st.error());
        Verdict v;
        v.kind = Verdict::Kind::discard;
        v.apply_edits = false;
        v.degraded = d.degraded;
        v.log = "discard:" + log + " (no recipient left)";
        v.commit = std::move(d.commit);  // run by the edge, like an accepted message's
        return v;
    }
    if (auto st = warmup_stage(msg, rt, d, log); !st) return fail(st.error());
    if (auto st = record_stage(msg, rt, d, log); !st) return fail(st.error());
    if (auto st = sign_stage(msg, rt, d, log); !st) return fail(st.error());
    pool_stage(msg, d, log);

    Verdict v;
    v.degraded = d.degraded;
    v.log = "accept:" + log;
    v.commit = std::move(d.commit);
    return v;
}

void commit_after_edits(Verdict& v, config::OnError on_error) {
    if (!v.commit) return;
    auto commit = std::move(v.commit);
    v.commit = nullptr;
    Status st = commit();
    if (st) return;
    if (on_error != config::OnError::accept) {
        std::string before = v.log;
        v = verdict_for(internal_error("records: " + st.error().what), on_error);
        v.log += ";" + before.substr(before.find(':') + 1);
        return;
    }
    // The header is already in the MTA's copy and signed: it stays, naming
    // a record that does not exist; the log line says so.
    g_records_skipped.fetch_add(1);
    v.degraded = true;
    v.log += " record=skipped (on_error=accept: " + st.error().what + ")";
}

}  // namespace ses::milter
