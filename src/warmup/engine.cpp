// engine.cpp -- see engine.hpp.
#include "warmup/engine.hpp"

#include <algorithm>
#include <set>

#include "mail/address.hpp"
#include "policy/builtin.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::warmup {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

policy::MessageView message_view(const mail::Message& m) {
    policy::MessageView v;
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
    }
    return "accept";
}

// One identity: what the store held (read()), then what the policy makes
// of it (evaluate(), outside any transaction).
struct Engine::Loaded {
    IdentityKey id;
    std::optional<std::string> stored;         // the identity record as read; nullopt: none yet
    IdentityState state;                       // rolled to today by evaluate()
    std::map<int32_t, policy::Counters> past;  // the days the roll asks about
    policy::Counters counters;                 // today
    Usage usage;                               // today
    policy::Limit limit;                       // by evaluate()
    std::vector<RollStep> steps;
    bool dirty = false;  // the state must be written
};

Engine::Engine(Settings s, std::shared_ptr<store::Env> env, std::shared_ptr<policy::Policy> p, TimeZone tz)
    : settings_(std::move(s)), env_(std::move(env)), policy_(std::move(p)), tz_(std::move(tz)) {
    t_identity_ = env_->table(store::table::warmup_identity);
    t_day_ = env_->table(store::table::warmup_day);
    t_group_ = env_->table(store::table::warmup_group_day);
    t_history_ = env_->table(store::table::warmup_history);
    t_held_ = env_->table(store::table::held);
    t_held_qid_ = env_->table(store::table::held_qid);
}

Result<std::unique_ptr<Engine>> Engine::open(const Settings& s, std::shared_ptr<store::Env> env,
                                             std::shared_ptr<policy::Policy> policy) {
    if (!env) return internal_error("warm-up: no store");
    if (!policy) return internal_error("warm-up: no policy");
    auto tz = TimeZone::load(s.time_zone);
    if (!tz) return tz.error();
    return std::unique_ptr<Engine>(new Engine(s, std::move(env), std::move(policy), std::move(*tz)));
}

// ---- reading and writing one identity ----------------------------------

policy::Counters Engine::get_counters(store::Txn& txn, const IdentityKey& id, int32_t day) {
    if (auto v = txn.get(t_day_, day_key(id, day)))
        if (auto c = decode_counters(*v)) return *c;
    return {};
}

Usage Engine::get_usage(store::Txn& txn, const IdentityKey& id, int32_t day) {
    Usage u;
    std::string prefix = group_prefix(id, day);
    store::Cursor c(txn, t_group_);
    for (bool ok = c.seek(prefix); ok && starts_with(c.key(), prefix); ok = c.next())
        u.groups[std::string(c.key().substr(prefix.size()))] = store::get_u64be(c.value());
    return u;
}

void Engine::put_counters(store::Txn& txn, const IdentityKey& id, int32_t day, const policy::Counters& c,
                          const Usage& usage, const Need& delta) {
    txn.put(t_day_, day_key(id, day), encode(c));
    for (const auto& [name, n] : delta.groups) {
        if (n == 0) continue;
        auto it = usage.groups.find(name);
        std::string v;
        store::put_u64be(v, it == usage.groups.end() ? n : it->second);
        txn.put(t_group_, group_key(id, day, name), v);
    }
}

void Engine::append_history(store::Txn& txn, const IdentityKey& id, const LevelChange& c) {
    // Entries of the same second get increasing sequence numbers.
    std::string same_second = history_key(id, c.at, 0);
    same_second.resize(same_second.size() - 4);
    uint32_t seq = 0;
    store::Cursor cur(txn, t_history_);
    bool ok = cur.seek(history_key(id, c.at + 1, 0)) ? cur.prev() : cur.last();
    if (ok && starts_with(cur.key(), same_second)) seq = store::get_u32be(cur.key(), same_second.size()) + 1;
    txn.put(t_history_, history_key(id, c.at, seq), encode(c));
}

policy::IdentityView Engine::view(const IdentityKey& id, const IdentityState& s, int32_t day, int64_t now,
                                  const policy::Counters& today, const Usage& usage) const {
    policy::IdentityView v;
    v.name = id.name;
    v.kind = std::string(kind_name(id.kind));
    v.level = s.level;
    v.started = date_string(s.started);
    v.day = static_cast<uint32_t>(std::max<int64_t>(1, static_cast<int64_t>(day) - s.started + 1));
    v.date = date_string(day);
    v.weekday = iso_weekday(day);
    v.now = now;
    v.day_ends_in = std::max<int64_t>(0, tz_.day_start(day + 1) - now);
    v.paused = s.paused;
    v.today = today;
    for (const auto& [name, n] : usage.groups) v.groups.push_back({name, n});
    return v;
}

Engine::Loaded Engine::read(store::Txn& txn, const IdentityKey& id, int32_t today, int64_t now) {
    Loaded l;
    l.id = id;
    std::optional<IdentityState> st;
    if (auto v = txn.get(t_identity_, id.key())) {
        l.stored = std::string(*v);
        st = decode_state(*v);
    }
    if (st) {
        l.state = *st;
    } else {
        l.state.level = 1;
        l.state.started = today;
        l.state.day = today;
        l.state.updated_at = now;
        l.dirty = true;
    }
    if (l.state.day < today)
        for (int32_t d = std::max(l.state.day + 1, today - 365); d <= today; ++d)
            l.past[d - 1] = get_counters(txn, id, d - 1);
    refresh(txn, l, today);
    return l;
}

void Engine::refresh(store::Txn& txn, Loaded& l, int32_t today) {
    l.counters = get_counters(txn, l.id, today);
    l.usage = get_usage(txn, l.id, today);
    l.usage.sent = l.counters.sent;
}

void Engine::evaluate(Loaded& l, int32_t today, int64_t now, bool with_limit) {
    if (l.state.day < today) {
        l.steps = roll(l.state, today, [&](const IdentityState& before, int32_t d) {
            policy::DayView y;
            y.date = date_string(d - 1);
            auto it = l.past.find(d - 1);
            if (it != l.past.end()) y.counters = it->second;
            return policy_->should_upgrade(view(l.id, before, d, tz_.day_start(d), {}, {}), y);
        });
        l.dirty = true;
    }
    if (l.dirty) l.state.updated_at = now;
    if (with_limit) l.limit = policy_->daily_limit(view(l.id, l.state, today, now, l.counters, l.usage));
}

bool Engine::unchanged(store::Txn& txn, const Loaded& l) {
    auto v = txn.get(t_identity_, l.id.key());
    if (!v) return !l.stored;
    return l.stored && *l.stored == *v;
}

void Engine::write_state(store::Txn& txn, const Loaded& l, int64_t now) {
    if (!l.dirty) return;
    txn.put(t_identity_, l.id.key(), encode(l.state));
    for (const RollStep& s : l.steps) append_history(txn, l.id, LevelChange{now, s.day, s.from, s.to, "upgrade"});
}

// ---- the decision ------------------------------------------------------

Result<Decision> Engine::admit(const mail::Message& m, std::string_view identity_domain, std::string_view ip) {
    std::vector<IdentityKey> ids;
    if (!identity_domain.empty()) ids.push_back(IdentityKey::domain(identity_domain));
    if (!ip.empty()) ids.push_back(IdentityKey::ip(ip));
    return admit(m, ids);
}

namespace {

// How often a decision is made again when the store changed under it, and
// the status that aborts the write transaction then.
constexpr int kDecideAttempts = 8;
const Status kConflict = internal_error("warm-up: changed meanwhile");

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

// Lua never runs inside the write transaction: a slow hook would stop every
// other message and every operator command behind LMDB's one writer.  So:
// read (a read transaction), decide (Lua, no transaction), then re-check and
// charge in one write transaction.  The re-check uses the counters as they
// are then, so concurrent messages can never overshoot; when the identity's
// state changed meanwhile (a day change, set-level, pause) or the message no
// longer fits where the decision assumed it did, the decision is made again.
Result<Decision> Engine::admit(const mail::Message& m, const std::vector<IdentityKey>& ids_in) {
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

        for (Loaded& l : loaded) evaluate(l, today, now, true);
        Fit planned_fit;
        int planned_over = first_over(loaded, domains, &planned_fit);
        std::optional<policy::OverQuota> planned;
        if (planned_over >= 0) {
            const Loaded& l = loaded[static_cast<size_t>(planned_over)];
            planned = policy_->on_over_quota(message_view(m), view(l.id, l.state, today, now, l.counters, l.usage),
                                             settings_.hold_duration);
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
            int over = first_over(loaded, domains, &over_fit);
            policy::OverQuota oq;
            if (over >= 0) {
                if (over == planned_over && planned) {
                    oq = *planned;
                } else if (last) {
                    const Loaded& l = loaded[static_cast<size_t>(over)];
                    oq = policy::builtin::on_over_quota(
                        message_view(m), view(l.id, l.state, today, now, l.counters, l.usage), settings_.hold_duration);
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
                d.used = loaded[0].usage.sent - d.recipients;
                return txn.status();
            }
            return record_over(
                txn, m, ids, domains, loaded[static_cast<size_t>(over)], over_fit, oq, now, d,
                [&] { charge_all(true); }, [&] { charge_all(false); });
        });
        if (conflict) continue;
        if (!st) return st.error();
        return d;
    }
    return internal_error("warm-up: the identities changed during " + std::to_string(kDecideAttempts) +
                          " decisions in a row");
}

Status Engine::record_over(store::Txn& txn, const mail::Message& m, const std::vector<IdentityKey>& ids,
                           const DomainCounts& domains, const Loaded& l, const Fit& over_fit,
                           const policy::OverQuota& oq, int64_t now, Decision& d,
                           const std::function<void()>& charge_held, const std::function<void()>& charge_sent) {
    d.identity = l.id.str();
    d.over = over_fit.over;
    d.limit = over_fit.limit;
    d.used = over_fit.used;
    switch (oq.action) {
        case policy::Action::accept:
            d.action = Decision::Action::accept;
            d.reason = d.identity + " over " + describe_limit(over_fit) + ": accepted by policy";
            charge_sent();
            break;
        case policy::Action::tempfail:
        case policy::Action::reject:
            d.action = oq.action == policy::Action::reject ? Decision::Action::reject : Decision::Action::tempfail;
            d.reply = oq.reply;
            d.reason = d.identity + " over " + describe_limit(over_fit);
            break;
        case policy::Action::hold: {
            if (!mta::valid_queue_id(m.env.queue_id)) {
                // Without the MTA's queue id the message could never be
                // released: let the client retry instead.
                d.action = Decision::Action::tempfail;
                d.reply = Reply{"451", "4.7.1", "Daily sending quota reached, try again later"};
                d.reason = d.identity + " over " + describe_limit(over_fit) + "; no queue id to hold it by";
                break;
            }
            d.action = Decision::Action::hold;
            d.release_at = now + oq.release_in;
            d.reason = "sesmilter warm-up: " + d.identity + " over " + describe_limit(over_fit) + ", release at " +
                       clock::format_rfc3339(d.release_at);
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

ses::Status apply(Engine& engine, mail::Message& msg, std::string_view identity_domain, std::string_view ip) {
    auto d = engine.admit(msg, identity_domain, ip);
    if (!d) return d.error();
    const std::string qid = msg.env.queue_id.empty() ? "-" : msg.env.queue_id;
    switch (d->action) {
        case Decision::Action::accept:
            if (!d->reason.empty()) log::info(qid + ": warm-up: " + d->reason);
            return ok_status();
        case Decision::Action::hold:
            msg.quarantine(d->reason);
            log::info(qid + ": warm-up: hold " + std::to_string(d->recipients) + " recipient(s): " + d->reason);
            return ok_status();
        case Decision::Action::tempfail:
        case Decision::Action::reject:
            log::info(qid + ": warm-up: " + std::string(action_name(d->action)) + ": " + d->reason);
            return Error{"warm-up: " + d->reason, d->reply};
    }
    return ok_status();
}

// ---- releasing held mail -----------------------------------------------

Result<ReleaseReport> Engine::release_due(mta::Adapter& mta) {
    ReleaseReport report;
    const size_t batch_max = std::max<size_t>(1, settings_.release_batch);
    int conflicts = 0;
    for (int round = 0; round < 1000; ++round) {
        struct Item {
            std::string key;
            HeldMail mail;
        };
        std::vector<Item> batch;
        size_t deferred = 0;
        int64_t now = clock::now();
        int32_t today = tz_.day_of(now);

        // The identities of what is due, and their limits: read, then asked
        // of the policy outside any transaction (see admit()).
        std::map<std::string, Loaded> loaded;
        Status st = env_->view([&](store::Txn& txn) -> Status {
            loaded.clear();
            store::Cursor c(txn, t_held_);
            size_t n = 0;
            for (bool ok = c.first(); ok && n < batch_max * 4; ok = c.next()) {
                if (held_key_release_at(c.key()) > now) break;
                auto h = decode_held(c.value());
                if (!h || h->state == HeldMail::State::releasing) continue;
                ++n;
                for (const auto& id : h->identities)
                    if (!loaded.count(id.key())) loaded.emplace(id.key(), read(txn, id, today, now));
            }
            return txn.status();
        });
        if (!st) return st.error();
        for (auto& [ik, l] : loaded) evaluate(l, today, now, true);

        bool conflict = false;
        st = env_->update([&](store::Txn& txn) -> Status {
            batch.clear();
            deferred = 0;
            conflict = false;
            std::vector<Item> due;
            {
                store::Cursor c(txn, t_held_);
                for (bool ok = c.first(); ok && due.size() < batch_max * 4; ok = c.next()) {
                    if (held_key_release_at(c.key()) > now) break;
                    auto h = decode_held(c.value());
                    if (!h) continue;
                    if (h->state == HeldMail::State::releasing) {
                        // An earlier pass died or the MTA failed: try again,
                        // already charged.
                        if (now - h->releasing_since >= settings_.release_retry && batch.size() < batch_max)
                            batch.push_back({std::string(c.key()), *h});
                        continue;
                    }
                    due.push_back({std::string(c.key()), *h});
                }
            }
            for (Item& it : batch) {
                it.mail.releasing_since = now;
                it.mail.attempts++;
                txn.put(t_held_, it.key, encode(it.mail));
            }
            std::map<std::string, Quota> quotas;
            std::vector<Candidate> cands;
            for (const Item& it : due) {
                Candidate c;
                for (const auto& id : it.mail.identities) {
                    std::string ik = id.key();
                    if (!quotas.count(ik)) {
                        auto l = loaded.find(ik);
                        if (l == loaded.end() || !unchanged(txn, l->second)) {
                            conflict = true;  // new mail or a changed identity: decide again
                            batch.clear();
                            return kConflict;  // aborts: nothing written
                        }
                        refresh(txn, l->second, today);
                        write_state(txn, l->second, now);
                        quotas[ik] = Quota{l->second.limit, l->second.usage, l->second.state.paused};
                    }
                    c.identities.push_back(ik);
                }
                c.domains = it.mail.domains;
                cands.push_back(std::move(c));
            }
            std::vector<bool> plan = plan_release(cands, quotas);
            int64_t tomorrow = tz_.day_start(today + 1);
            for (size_t i = 0; i < due.size(); ++i) {
                Item& it = due[i];
                if (plan[i] && batch.size() < batch_max) {
                    for (const auto& id : it.mail.identities) {
                        Loaded& l = loaded[id.key()];
                        Need need = need_of(l.limit, it.mail.domains);
                        l.counters.sent += it.mail.recipients;
                        l.counters.released += it.mail.recipients;
                        charge(l.usage, need);
                        put_counters(txn, l.id, today, l.counters, l.usage, need);
                    }
                    it.mail.state = HeldMail::State::releasing;
                    it.mail.charged_day = today;
                    it.mail.releasing_since = now;
                    it.mail.attempts++;
                    txn.put(t_held_, it.key, encode(it.mail));
                    batch.push_back(it);
                } else if (!plan[i]) {
                    // Wait for the next day's quota; the new key keeps the
                    // oldest-first order among what is due then.
                    txn.del(t_held_, it.key);
                    it.mail.release_at = std::max(tomorrow, it.mail.release_at);
                    std::string key = held_key(it.mail.release_at, it.mail.held_at, it.mail.queue_id);
                    txn.put(t_held_, key, encode(it.mail));
                    txn.put(t_held_qid_, it.mail.queue_id, key);
                    deferred++;
                }
            }
            return txn.status();
        });
        if (conflict) {
            if (++conflicts < kDecideAttempts) continue;
            break;  // the next pass tries again
        }
        if (!st) return st.error();
        report.deferred += deferred;
        if (batch.empty()) break;

        // The MTA, outside any transaction.
        std::vector<std::pair<Item*, Result<mta::Released>>> results;
        for (Item& it : batch) results.emplace_back(&it, mta.release(it.mail.queue_id));

        st = env_->update([&](store::Txn& txn) -> Status {
            for (auto& [it, r] : results) {
                if (r && (*r == mta::Released::yes || *r == mta::Released::not_held)) {
                    txn.del(t_held_, it->key);
                    auto idx = txn.get(t_held_qid_, it->mail.queue_id);
                    if (idx && *idx == it->key) txn.del(t_held_qid_, it->mail.queue_id);
                }
            }
            return txn.status();
        });
        for (auto& [it, r] : results) {
            std::string ids;
            for (const auto& id : it->mail.identities) ids += (ids.empty() ? "" : ",") + id.str();
            if (!r) {
                report.failed++;
                log::warn(it->mail.queue_id + ": warm-up: release failed (retry in " +
                          std::to_string(settings_.release_retry) + "s): " + r.error().what);
            } else if (*r == mta::Released::not_held) {
                report.not_held++;
                log::notice(it->mail.queue_id + ": warm-up: not in the MTA's hold queue any more; record dropped");
            } else {
                report.released++;
                report.queue_ids.push_back(it->mail.queue_id);
                log::info(it->mail.queue_id + ": warm-up: released " + std::to_string(it->mail.recipients) +
                          " recipient(s) of " + ids + ", charged to " + date_string(it->mail.charged_day));
            }
        }
        if (!st) return st.error();
        if (batch.size() < batch_max) break;
    }
    return report;
}

// ---- operator commands -------------------------------------------------

Result<IdentityStatus> Engine::status(const IdentityKey& id) {
    auto all = collect_status(id);
    if (!all) return all.error();
    for (auto& s : *all)
        if (s.id == id) return std::move(s);
    return internal_error("warm-up: unknown identity " + id.str());
}

Result<std::vector<IdentityStatus>> Engine::status_all() { return collect_status(std::nullopt); }

Result<std::vector<IdentityStatus>> Engine::collect_status(const std::optional<IdentityKey>& only) {
    std::vector<IdentityStatus> out;
    int64_t now = clock::now();
    int32_t today = tz_.day_of(now);
    std::vector<Loaded> loaded;
    std::map<std::string, std::pair<uint32_t, uint64_t>> held;
    std::map<std::string, std::vector<LevelChange>> history;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        loaded.clear();
        held.clear();
        history.clear();
        std::vector<IdentityKey> ids;
        {
            store::Cursor c(txn, t_identity_);
            for (bool ok = c.first(); ok; ok = c.next())
                if (auto id = IdentityKey::from_key(c.key()); id && (!only || *id == *only)) ids.push_back(*id);
        }
        {
            store::Cursor c(txn, t_held_);
            for (bool ok = c.first(); ok; ok = c.next())
                if (auto h = decode_held(c.value()))
                    for (const auto& id : h->identities) {
                        auto& e = held[id.key()];
                        e.first++;
                        e.second += h->recipients;
                    }
        }
        for (const auto& id : ids) {
            loaded.push_back(read(txn, id, today, now));
            std::string ik = id.key();
            store::Cursor c(txn, t_history_);
            for (bool ok = c.seek(ik); ok && starts_with(c.key(), ik); ok = c.next())
                if (auto ch = decode_change(c.value())) history[ik].push_back(*ch);
        }
        return txn.status();
    });
    if (!st) return st.error();
    // The policy is asked outside the transaction.
    for (Loaded& l : loaded) {
        evaluate(l, today, now, true);
        IdentityStatus s;
        s.id = l.id;
        s.state = l.state;
        s.today = today;
        s.limit = l.limit;
        s.counters = l.counters;
        s.usage = l.usage;
        s.remaining = l.state.paused || l.usage.sent >= l.limit.total ? 0 : l.limit.total - l.usage.sent;
        auto h = held.find(l.id.key());
        if (h != held.end()) {
            s.held_messages = h->second.first;
            s.held_recipients = h->second.second;
        }
        s.next_day_at = tz_.day_start(today + 1);
        policy::DayView y{date_string(today), l.counters};
        s.upgrade_expected =
            !l.state.paused && policy_->should_upgrade(view(l.id, l.state, today + 1, s.next_day_at, {}, {}), y);
        s.history = std::move(history[l.id.key()]);
        for (const RollStep& r : l.steps) s.history.push_back({now, r.day, r.from, r.to, "upgrade"});
        out.push_back(std::move(s));
    }
    return out;
}

// Read, roll (the policy, outside the transaction), change, write when the
// identity did not change meanwhile.
Status Engine::change_state(const IdentityKey& id,
                            const std::function<std::optional<LevelChange>(IdentityState&, int32_t, int64_t)>& edit) {
    for (int attempt = 0; attempt < kDecideAttempts; ++attempt) {
        int64_t now = clock::now();
        int32_t today = tz_.day_of(now);
        Loaded l;
        Status st = env_->view([&](store::Txn& txn) -> Status {
            l = read(txn, id, today, now);
            return txn.status();
        });
        if (!st) return st.error();
        evaluate(l, today, now, false);
        bool conflict = false;
        st = env_->update([&](store::Txn& txn) -> Status {
            conflict = false;
            if (!unchanged(txn, l)) {
                conflict = true;
                return kConflict;
            }
            write_state(txn, l, now);
            IdentityState next = l.state;
            if (auto change = edit(next, today, now)) {
                next.updated_at = now;
                txn.put(t_identity_, id.key(), encode(next));
                append_history(txn, id, *change);
            }
            return txn.status();
        });
        if (conflict) continue;
        return st;
    }
    return internal_error("warm-up: " + id.str() + " kept changing; try again");
}

Status Engine::set_level(const IdentityKey& id, uint32_t level, std::string_view why) {
    if (level < 1) return internal_error("warm-up: the level starts at 1");
    return change_state(id, [&](IdentityState& s, int32_t today, int64_t now) -> std::optional<LevelChange> {
        uint32_t from = s.level;
        s.level = level;
        return LevelChange{now, today, from, level, std::string(why)};
    });
}

Status Engine::set_paused(const IdentityKey& id, bool paused) {
    return change_state(id, [&](IdentityState& s, int32_t today, int64_t now) -> std::optional<LevelChange> {
        if (s.paused == paused) return std::nullopt;
        s.paused = paused;
        return LevelChange{now, today, s.level, s.level, paused ? "paused" : "resumed"};
    });
}

Status Engine::add_feedback(const IdentityKey& id, uint64_t bounced, uint64_t complained, std::optional<int32_t> day) {
    int32_t d = day ? *day : tz_.day_of(clock::now());
    return env_->update([&](store::Txn& txn) -> Status {
        policy::Counters c = get_counters(txn, id, d);
        c.bounced += bounced;
        c.complained += complained;
        txn.put(t_day_, day_key(id, d), encode(c));
        return txn.status();
    });
}

Result<policy::Counters> Engine::counters(const IdentityKey& id, int32_t day) {
    policy::Counters out;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        out = get_counters(txn, id, day);
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

Result<std::vector<HeldMail>> Engine::held(std::optional<IdentityKey> only) {
    std::vector<HeldMail> out;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, t_held_);
        for (bool ok = c.first(); ok; ok = c.next()) {
            auto h = decode_held(c.value());
            if (!h) continue;
            if (only && std::find(h->identities.begin(), h->identities.end(), *only) == h->identities.end()) continue;
            out.push_back(std::move(*h));
        }
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

Result<Forecast> Engine::forecast(const IdentityKey& id, uint64_t volume, int max_days) {
    int64_t now = clock::now();
    int32_t today = tz_.day_of(now);
    Forecast f;
    Loaded l;
    policy::Counters basis;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        l = read(txn, id, today, now);
        basis = get_counters(txn, id, today - 1);
        return txn.status();
    });
    if (!st) return st.error();
    {
        evaluate(l, today, now, false);
        // The reputation as it stands: yesterday's rates, or today's so far
        // when yesterday sent nothing.
        if (basis.sent == 0) basis = l.counters;
        double bounce_rate = basis.sent ? static_cast<double>(basis.bounced) / basis.sent : 0.0;
        double complaint_rate = basis.sent ? static_cast<double>(basis.complained) / basis.sent : 0.0;
        IdentityState s = l.state;
        s.paused = false;
        auto limit_at = [&](uint32_t level, int32_t day) {
            IdentityState x = s;
            x.level = level;
            return policy_->daily_limit(view(id, x, day, tz_.day_start(day), {}, {})).total;
        };
        auto upgrade_at = [&](uint32_t level, int32_t day, uint64_t sent) {
            IdentityState x = s;
            x.level = level;
            policy::DayView y;
            y.date = date_string(day - 1);
            y.counters.sent = sent;
            y.counters.bounced = static_cast<uint64_t>(bounce_rate * static_cast<double>(sent) + 0.5);
            y.counters.complained = static_cast<uint64_t>(complaint_rate * static_cast<double>(sent) + 0.5);
            return policy_->should_upgrade(view(id, x, day, tz_.day_start(day), {}, {}), y);
        };
        f = warmup::forecast(l.state.level, today, volume, max_days, limit_at, upgrade_at);
        if (l.state.paused) f.note = "paused now; the forecast assumes it resumes today. " + f.note;
    }
    return f;
}

}  // namespace ses::warmup
