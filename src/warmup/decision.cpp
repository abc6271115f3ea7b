// decision.cpp -- the decision at end of message (Engine::admit) and the
// milter stage that applies it (see decision.hpp and engine.hpp).
#include <algorithm>

#include "mail/address.hpp"
#include "mail/replies.hpp"
#include "mta/adapter.hpp"
#include "warmup/builtin.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "warmup/engine_internal.hpp"
#include "util/strings.hpp"

namespace ses::warmup {

using detail::kConflict;
using detail::kDecideAttempts;
using detail::kSharedDayTtl;
using detail::starts_with;

namespace {

MessageView message_view(const mail::Message& m) {
    MessageView v;
    v.sender = m.env.mail_from;
    for (const auto& r : m.env.rcpts) v.recipients.push_back({r, mail::domain_of(r)});
    v.size = m.size();
    v.queue_id = m.env.queue_id;
    for (const auto& h : m.headers()) {
        if (v.headers.size() >= 200) break;
        v.headers.emplace_back(str::lower(h.name), mail::unfold(h.value));
    }
    return v;
}

std::string describe_limit(const Fit& f) {
    if (f.over == "paused") return "paused";
    return f.over + " (" + std::to_string(f.used) + " of " + std::to_string(f.limit) + " used)";
}

// The first identity the message does not fit, or -1.
template <class L>
int first_over(const std::vector<L>& loaded, const DomainCounts& domains, Fit* why) {
    for (size_t i = 0; i < loaded.size(); ++i) {
        Fit f = fits(loaded[i].limit, loaded[i].usage, need_of(loaded[i].limit, domains), loaded[i].state.paused);
        if (!f.ok) {
            if (why) *why = f;
            return static_cast<int>(i);
        }
    }
    return -1;
}

}  // namespace

std::string_view action_name(Decision::Action a) {
    switch (a) {
        case Decision::Action::accept:
            return "accept";
        case Decision::Action::hold:
            return "hold";
        case Decision::Action::tempfail:
            return "tempfail";
        case Decision::Action::reject:
            return "reject";
        case Decision::Action::overflow:
            return "overflow";
    }
    return "accept";
}

Result<Decision> Engine::admit(const mail::Message& m, std::string_view identity_domain, std::string_view ip) {
    std::vector<IdentityKey> ids;
    if (!identity_domain.empty()) ids.push_back(IdentityKey::domain(identity_domain));
    if (!ip.empty()) ids.push_back(IdentityKey::ip(ip));
    return admit(m, ids);
}

// Lua never runs inside the write transaction: a slow hook would stop every
// other message and every operator command behind LMDB's one writer.  So:
// read (a read transaction), decide (Lua, no transaction), then re-check and
// charge in one write transaction.  The re-check uses the counters as they
// are then, so concurrent messages can never overshoot; when the identity's
// state changed meanwhile (a day change, set-level, pause) or the message no
// longer fits where the decision assumed it did, the decision is made again.
Result<Decision> Engine::admit(const mail::Message& m, const std::vector<IdentityKey>& ids_in, AdmitOptions opts) {
    std::vector<IdentityKey> ids;
    for (const auto& id : ids_in)
        if (!id.name.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    Decision d;
    DomainCounts domains = count_domains(m.env.rcpts);
    if (domains.empty()) domains.emplace_back("", 1);
    uint32_t recipients = 0;
    for (const auto& [dom, n] : domains) recipients += n;
    d.recipients = recipients;
    if (ids.empty()) return d;  // nothing to count against

    int64_t now = clock::now();
    int32_t today = tz_.day_of(now);

    for (int attempt = 0; attempt < kDecideAttempts; ++attempt) {
        const bool last = attempt + 1 == kDecideAttempts;
        std::vector<Loaded> loaded;
        Status st = env_->view([&](store::Txn& txn) -> Status {
            loaded.clear();
            for (const auto& id : ids) loaded.push_back(read(txn, id, today, now));
            return txn.status();
        });
        if (!st) return st.error();

        for (Loaded& l : loaded)
            if (Status e = evaluate(l, today, now, true); !e) return e.error();
        Fit planned_fit;
        int planned_over = first_over(loaded, domains, &planned_fit);
        std::optional<OverQuota> planned;
        auto passes = [&](int i) {
            return i >= 0 && opts.pass_when_ip_full && loaded[static_cast<size_t>(i)].id.kind == Kind::ip;
        };
        // The fleet's quota: the total is charged in the shared store now,
        // for all identities at once; the transaction below records it.
        // Each quota group the message uses is a key of its own
        // ("IK|group"), charged with the recipients in that group.
        std::optional<store::QuotaAnswer> shared;
        std::vector<store::QuotaCharge> shared_keys;
        std::vector<size_t> key_owner;       // index into loaded
        std::vector<std::string> key_group;  // "" for the identity's total
        if (shared_) {
            for (size_t i = 0; i < loaded.size(); ++i) {
                const Loaded& l = loaded[i];
                shared_keys.push_back({l.id.key(), l.state.paused ? 0 : l.limit.total, std::nullopt});
                key_owner.push_back(i);
                key_group.emplace_back();
                Need need = need_of(l.limit, domains);
                for (const Group& g : l.limit.groups) {
                    auto it = need.groups.find(g.name);
                    if (it == need.groups.end() || it->second == 0) continue;
                    shared_keys.push_back({l.id.key() + "|" + g.name, l.state.paused ? 0 : g.limit, it->second});
                    key_owner.push_back(i);
                    key_group.push_back(g.name);
                }
            }
            auto a = shared_->charge(shared_keys, today, recipients, kSharedDayTtl);
            if (!a) return a.error();
            shared = *a;
            planned_over = a->charged ? -1 : static_cast<int>(key_owner[static_cast<size_t>(a->over)]);
            planned.reset();
        }
        auto refund = [&] {
            if (shared && shared->charged) (void)shared_->refund(shared_keys, today, recipients);
        };
        if (planned_over >= 0 && !passes(planned_over)) {
            const Loaded& l = loaded[static_cast<size_t>(planned_over)];
            planned = ask_over_quota(message_view(m), view(l.id, l.state, today, now, l.counters, l.usage));
        }

        bool conflict = false;
        st = env_->update([&](store::Txn& txn) -> Status {
            conflict = false;
            d = Decision{};
            d.recipients = recipients;
            for (const Loaded& l : loaded)
                if (!unchanged(txn, l)) {
                    conflict = true;
                    return kConflict;
                }
            for (Loaded& l : loaded) refresh(txn, l, today);
            Fit over_fit;
            int over = -1;
            if (!shared) {
                over = first_over(loaded, domains, &over_fit);
            } else if (!shared->charged) {
                size_t k = static_cast<size_t>(shared->over);
                over = static_cast<int>(key_owner[k]);
                const Loaded& l = loaded[key_owner[k]];
                over_fit = Fit{false,
                               l.state.paused         ? "paused"
                               : key_group[k].empty() ? "daily limit"
                                                      : "group " + key_group[k],
                               shared_keys[k].limit, shared->used};
            }
            OverQuota oq;
            if (passes(over)) {
                // Full: the caller tries the pool's next address.
                for (const Loaded& l : loaded) write_state(txn, l, now);
                d.action = Decision::Action::overflow;
                d.identity = loaded[static_cast<size_t>(over)].id.str();
                d.over = over_fit.over;
                d.limit = over_fit.limit;
                d.used = over_fit.used;
                return txn.status();
            }
            if (over >= 0) {
                if (over == planned_over && planned) {
                    oq = *planned;
                } else if (last) {
                    const Loaded& l = loaded[static_cast<size_t>(over)];
                    oq = builtin::on_over_quota(message_view(m), view(l.id, l.state, today, now, l.counters, l.usage),
                                                settings_.hold_duration);
                } else {
                    conflict = true;  // full now: ask on_over_quota, outside
                    return kConflict;
                }
            }
            for (const Loaded& l : loaded) write_state(txn, l, now);
            auto charge_all = [&](bool held) {
                for (Loaded& l : loaded) {
                    if (held) {
                        l.counters.held += d.recipients;
                        put_counters(txn, l.id, today, l.counters, l.usage, Need{});
                    } else {
                        Need need = need_of(l.limit, domains);
                        l.counters.sent += d.recipients;
                        charge(l.usage, need);
                        put_counters(txn, l.id, today, l.counters, l.usage, need);
                    }
                }
            };
            if (over < 0) {
                charge_all(false);
                d.limit = loaded[0].limit.total;
                d.used = shared ? shared->used : loaded[0].usage.sent - d.recipients;
                return txn.status();
            }
            return record_over(
                txn, m, ids, domains, loaded[static_cast<size_t>(over)], over_fit, oq, now, opts.allow_overflow, d,
                [&] { charge_all(true); }, [&] { charge_all(false); });
        });
        if (conflict || !st) refund();
        if (conflict) continue;
        if (!st) return st.error();
        if (shared_ && d.action == Decision::Action::hold) {
            // Its place in the fleet's order of held mail; new mail (above)
            // is not ordered behind held mail.
            HeldMail h;
            h.queue_id = m.env.queue_id;
            h.identities = ids;
            h.recipients = d.recipients;
            h.held_at = now;
            h.release_at = d.release_at;
            register_held(h, order_entry(h, h.release_at, h.release_at + order_grace()));
        }
        if (shared && !shared->charged && d.action == Decision::Action::accept) {
            // Accepted over the quota by policy: the fleet counts it too.
            for (auto& k : shared_keys) k.limit = UINT64_MAX;
            (void)shared_->charge(shared_keys, today, recipients, kSharedDayTtl);
        }
        return d;
    }
    return internal_error("warm-up: the identities changed during " + std::to_string(kDecideAttempts) +
                          " decisions in a row");
}

Status Engine::record_over(store::Txn& txn, const mail::Message& m, const std::vector<IdentityKey>& ids,
                           const DomainCounts& domains, const Loaded& l, const Fit& over_fit, const OverQuota& answer,
                           int64_t now, bool allow_overflow, Decision& d, const std::function<void()>& charge_held,
                           const std::function<void()>& charge_sent) {
    OverQuota oq = answer;
    std::string note;
    if (oq.action == Action::overflow && (!allow_overflow || l.id.kind != Kind::ip)) {
        // Only an address can overflow to another, and only once.
        oq = OverQuota{Action::hold, settings_.hold_duration, {}, {}};
        note = " (overflow to " + answer.pool + " not possible)";
    }
    d.identity = l.id.str();
    d.over = over_fit.over;
    d.limit = over_fit.limit;
    d.used = over_fit.used;
    switch (oq.action) {
        case Action::overflow:
            d.action = Decision::Action::overflow;
            d.pool = oq.pool;
            d.reason = d.identity + " over " + describe_limit(over_fit) + ": overflow to pool " + oq.pool;
            break;
        case Action::accept:
            d.action = Decision::Action::accept;
            d.reason = d.identity + " over " + describe_limit(over_fit) + ": accepted by policy";
            charge_sent();
            break;
        case Action::tempfail:
        case Action::reject:
            d.action = oq.action == Action::reject ? Decision::Action::reject : Decision::Action::tempfail;
            d.reply = oq.reply;
            d.reason = d.identity + " over " + describe_limit(over_fit);
            break;
        case Action::hold: {
            if (!mta::valid_queue_id(m.env.queue_id)) {
                // Without the MTA's queue id the message could never be
                // released: let the client retry instead.
                d.action = Decision::Action::tempfail;
                d.reply = mail::make_reply(mail::ReplyReason::warmup_no_queue_id);
                d.reason = d.identity + " over " + describe_limit(over_fit) + "; no queue id to hold it by";
                break;
            }
            d.action = Decision::Action::hold;
            d.release_at = now + oq.release_in;
            d.reason = "sesmilter warm-up: " + d.identity + " over " + describe_limit(over_fit) + ", release at " +
                       clock::format_rfc3339(d.release_at) + note;
            HeldMail h;
            h.queue_id = m.env.queue_id;
            h.sender = m.env.mail_from;
            h.identities = ids;
            h.recipients = d.recipients;
            h.domains = domains;
            h.held_at = now;
            h.release_at = d.release_at;
            if (auto old = txn.get(t_held_qid_, h.queue_id)) txn.del(t_held_, std::string(*old));
            std::string key = held_key(h.release_at, h.held_at, h.queue_id);
            txn.put(t_held_, key, encode(h));
            txn.put(t_held_qid_, h.queue_id, key);
            charge_held();
            break;
        }
    }
    return txn.status();
}

ses::Status apply(Engine& engine, mail::Message& msg, std::string_view identity_domain, std::string_view ip,
                  std::string* log) {
    auto d = engine.admit(msg, identity_domain, ip);
    if (!d) return d.error();
    return apply_decision(msg, *d, log);
}

ses::Status apply_decision(mail::Message& msg, const Decision& dec, std::string* log) {
    const Decision* d = &dec;
    // What warm-up did goes into the message's one log line, not a line of its own.
    auto note = [&](const std::string& s) {
        if (log) *log += s;
    };
    switch (d->action) {
        case Decision::Action::accept:
            note(" warmup=ok");
            if (!d->reason.empty()) note(" (" + d->reason + ")");
            return ok_status();
        case Decision::Action::hold:
            msg.quarantine(d->reason);
            note(" warmup=held recipients=" + std::to_string(d->recipients) + " (" + d->reason + ")");
            return ok_status();
        case Decision::Action::tempfail:
        case Decision::Action::reject:
            return Error{"warm-up " + std::string(action_name(d->action)) + ": " + d->reason, d->reply};
        case Decision::Action::overflow:
            break;  // only with AdmitOptions, which routing.cpp resolves
    }
    return internal_error("warm-up: an overflow decision left unrouted");
}

}  // namespace ses::warmup
