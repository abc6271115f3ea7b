// engine.cpp -- see engine.hpp: opening the engine and reading, evaluating
// and writing one identity (shared by the decision, the release and the
// operator queries).
#include "warmup/engine.hpp"

#include <algorithm>

#include "store/codec.hpp"
#include "store/node_id.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "warmup/builtin.hpp"
#include "warmup/engine_internal.hpp"

namespace ses::warmup {

using detail::kConflict;
using detail::kDecideAttempts;
using detail::starts_with;

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
                                             std::shared_ptr<policy::Policy> policy,
                                             std::shared_ptr<store::SharedState> shared) {
    if (!env) return internal_error("warm-up: no store");
    if (!policy) return internal_error("warm-up: no policy");
    auto tz = TimeZone::load(s.time_zone);
    if (!tz) return tz.error();
    auto e = std::unique_ptr<Engine>(new Engine(s, std::move(env), std::move(policy), std::move(*tz)));
    if (shared) {
        auto node = store::node_id(*e->env_);
        if (!node) return node.error();
        e->node_ = std::move(*node);
    }
    e->shared_ = std::move(shared);
    return e;
}

// ---- reading and writing one identity ----------------------------------

Counters Engine::get_counters(store::Txn& txn, const IdentityKey& id, int32_t day) {
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

void Engine::put_counters(store::Txn& txn, const IdentityKey& id, int32_t day, const Counters& c, const Usage& usage,
                          const Need& delta) {
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

IdentityView Engine::view(const IdentityKey& id, const IdentityState& s, int32_t day, int64_t now,
                          const Counters& today, const Usage& usage) const {
    IdentityView v;
    v.name = id.name;
    v.kind = std::string(kind_name(id.kind));
    if (id.kind == Kind::ip)
        if (auto it = settings_.pool_of.find(id.name); it != settings_.pool_of.end()) v.pool = it->second;
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

// The hooks, with the built-in rule as the answer when the script has none
// or it fails.
Limit Engine::ask_limit(const IdentityView& v) {
    return warmup::daily_limit(*policy_, v, [&] { return builtin::daily_limit(v); });
}

bool Engine::ask_upgrade(const IdentityView& v, const DayView& y) {
    return warmup::should_upgrade(*policy_, v, y, [&] { return builtin::should_upgrade(v, y); });
}

OverQuota Engine::ask_over_quota(const MessageView& m, const IdentityView& v) {
    return warmup::on_over_quota(*policy_, m, v, settings_.hold_duration,
                                 [&] { return builtin::on_over_quota(m, v, settings_.hold_duration); });
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

void Engine::roll_to_today(Loaded& l, int32_t today, int64_t now) {
    if (l.state.day < today) {
        l.steps = roll(l.state, today, [&](const IdentityState& before, int32_t d) {
            DayView y;
            y.date = date_string(d - 1);
            auto it = l.past.find(d - 1);
            if (it != l.past.end()) y.counters = it->second;
            return ask_upgrade(view(l.id, before, d, tz_.day_start(d), {}, {}), y);
        });
        l.dirty = true;
    }
    if (l.dirty) l.state.updated_at = now;
}

// The fleet's state replaces the local one; the first host to use a shared
// state seeds it from its own copy, so a host that joins a fleet keeps its
// level.  A roll is written back only if nobody wrote meanwhile; the loser
// takes the winner's state, so a day is rolled (and should_upgrade answered)
// once for the fleet.
Status Engine::from_fleet(Loaded& l, int32_t today, int64_t now) {
    const IdentityState local = l.state;
    for (int attempt = 0; attempt < kDecideAttempts; ++attempt) {
        auto f = shared_->identity_get(l.id.key(), today);
        if (!f) return f.error();
        std::optional<IdentityState> st;
        if (f->value) {
            st = decode_state(*f->value);
            if (!st) return internal_error("warm-up: the fleet's state of " + l.id.str() + " is unreadable");
        }
        l.steps.clear();
        l.fleet_version = f->version;
        l.fleet_won = false;
        l.state = st ? *st : local;
        l.dirty = !st;
        l.counters.sent = f->day.sent;
        l.counters.bounced = f->day.bounced;
        l.counters.complained = f->day.complained;
        l.usage.sent = f->day.sent;
        if (l.state.day < today)
            for (int32_t d = std::max(l.state.day + 1, today - 365); d <= today; ++d) {
                auto y = shared_->day_get(l.id.key(), d - 1);
                if (!y) return y.error();
                Counters& c = l.past[d - 1];  // held and released: this host's
                c.sent = y->sent;
                c.bounced = y->bounced;
                c.complained = y->complained;
            }
        roll_to_today(l, today, now);
        if (!l.dirty) return ok_status();
        auto put = shared_->identity_put(l.id.key(), f->version, encode(l.state));
        if (!put) return put.error();
        if (*put) {
            l.fleet_version = f->version + 1;
            l.fleet_won = true;
            // The winner's history, at once: a decision made again after
            // a local conflict finds the day rolled and has no steps.
            if (l.steps.empty()) return ok_status();
            return env_->update([&](store::Txn& txn) -> Status {
                for (const RollStep& s : l.steps)
                    append_history(txn, l.id, LevelChange{now, s.day, s.from, s.to, "upgrade"});
                return txn.status();
            });
        }
    }
    return internal_error("warm-up: the fleet's state of " + l.id.str() + " kept changing; try again");
}

Status Engine::evaluate(Loaded& l, int32_t today, int64_t now, bool with_limit) {
    if (shared_) {
        if (Status st = from_fleet(l, today, now); !st) return st;
    } else {
        roll_to_today(l, today, now);
    }
    if (with_limit) l.limit = ask_limit(view(l.id, l.state, today, now, l.counters, l.usage));
    return ok_status();
}

bool Engine::unchanged(store::Txn& txn, const Loaded& l) {
    // With a shared state the local record is the fleet state's copy: a
    // change of it means this host changed or saw a new fleet state since
    // the read, and the decision is made again as on one machine.
    auto v = txn.get(t_identity_, l.id.key());
    if (!v) return !l.stored;
    return l.stored && *l.stored == *v;
}

void Engine::write_state(store::Txn& txn, const Loaded& l, int64_t now) {
    if (l.fleet_version) {
        std::string v = encode(l.state);
        if (!l.stored || *l.stored != v) txn.put(t_identity_, l.id.key(), v);
        return;  // the history was written by from_fleet()
    }
    if (!l.dirty) return;
    txn.put(t_identity_, l.id.key(), encode(l.state));
    for (const RollStep& s : l.steps) append_history(txn, l.id, LevelChange{now, s.day, s.from, s.to, "upgrade"});
}

}  // namespace ses::warmup
