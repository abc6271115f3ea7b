// queries.cpp -- the operator's commands: status, set-level, pause and
// resume, feedback, held mail, counters and the forecast (see queries.hpp).
#include <algorithm>
#include <chrono>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "warmup/engine_internal.hpp"

namespace ses::warmup {

using detail::kConflict;
using detail::kDecideAttempts;
using detail::starts_with;

Result<IdentityStatus> Engine::status(const IdentityKey& id, bool with_forecast) {
    auto all = collect_status(id);
    if (!all) return all.error();
    for (auto& s : *all)
        if (s.id == id) {
            if (with_forecast) {
                auto f = forecast(s.id, kWholePlan, kStatusForecastDays);
                if (!f) return f.error();
                s.forecast = std::move(*f);
            }
            return std::move(s);
        }
    return internal_error("warm-up: unknown identity " + id.str());
}

Result<std::vector<IdentityStatus>> Engine::status_all(bool with_forecast) {
    auto all = collect_status(std::nullopt);
    if (!all || !with_forecast) return all;
    // One read transaction per identity, after the status's own: the curve
    // may start from a state a moment newer than the status, never older.
    for (auto& s : *all) {
        auto f = forecast(s.id, kWholePlan, kStatusForecastDays);
        if (!f) return f.error();
        s.forecast = std::move(*f);
    }
    return all;
}

Result<std::vector<IdentityStatus>> Engine::collect_status(const std::optional<IdentityKey>& only) {
    std::vector<IdentityStatus> out;
    int64_t now = clock::now();
    int32_t today = tz_.day_of(now);
    std::vector<Loaded> loaded;
    std::map<std::string, std::pair<uint32_t, uint64_t>> held;
    std::map<std::string, std::vector<LevelChange>> history;
    // An identity only other hosts of the fleet have used yet.
    bool in_fleet = false;
    if (only && shared_) {
        auto f = shared_->identity_get(only->key(), today);
        if (!f) return f.error();
        in_fleet = f->value.has_value();
    }
    Status st = env_->view([&](store::Txn& txn) -> Status {
        loaded.clear();
        held.clear();
        history.clear();
        std::vector<IdentityKey> ids;
        {
            store::Cursor c(txn, t_identity_);
            for (bool ok = c.first(); ok; ok = c.next())
                if (auto id = IdentityKey::from_key(c.key()); id && (!only || *id == *only)) ids.push_back(*id);
            if (in_fleet && ids.empty()) ids.push_back(*only);
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
        if (Status e = evaluate(l, today, now, true); !e) return e.error();
        IdentityStatus s;
        s.id = l.id;
        s.state = l.state;
        s.today = today;
        s.limit = l.limit;
        s.counters = l.counters;
        s.usage = l.usage;
        s.fleet = l.fleet_version.has_value();
        s.remaining = l.state.paused || l.usage.sent >= l.limit.total ? 0 : l.limit.total - l.usage.sent;
        auto h = held.find(l.id.key());
        if (h != held.end()) {
            s.held_messages = h->second.first;
            s.held_recipients = h->second.second;
        }
        s.next_day_at = tz_.day_start(today + 1);
        DayView y{date_string(today), l.counters};
        s.upgrade_expected = !l.state.paused && ask_upgrade(view(l.id, l.state, today + 1, s.next_day_at, {}, {}), y);
        s.history = std::move(history[l.id.key()]);
        for (const RollStep& r : l.steps) s.history.push_back({now, r.day, r.from, r.to, "upgrade"});
        out.push_back(std::move(s));
    }
    return out;
}

// Read, roll (the policy, outside the transaction), change, write when the
// identity did not change meanwhile.  With a shared state the change is a
// compare-and-set of the fleet's state, then copied to the local mirror
// with its history entry.
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
        if (st = evaluate(l, today, now, false); !st) return st;
        IdentityState next = l.state;
        std::optional<LevelChange> change = edit(next, today, now);
        if (change) next.updated_at = now;
        if (change && l.fleet_version) {
            auto put = shared_->identity_put(id.key(), *l.fleet_version, encode(next));
            if (!put) return put.error();
            if (!*put) continue;  // another host changed it meanwhile
        }
        bool conflict = false;
        st = env_->update([&](store::Txn& txn) -> Status {
            conflict = false;
            if (!unchanged(txn, l)) {
                conflict = true;
                return kConflict;
            }
            write_state(txn, l, now);
            if (change) {
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
    // The fleet's first: a failure there changes nothing, so a retry does
    // not count twice here.
    if (shared_)
        if (auto r = shared_->feedback_add(id.key(), d, bounced, complained, {}, detail::kSharedDayTtl); !r)
            return r.error();
    return env_->update([&](store::Txn& txn) -> Status {
        Counters c = get_counters(txn, id, d);
        c.bounced += bounced;
        c.complained += complained;
        txn.put(t_day_, day_key(id, d), encode(c));
        return txn.status();
    });
}

void Engine::add_feedback(store::Txn& txn, const IdentityKey& id, uint64_t bounced, uint64_t complained, int32_t day,
                          std::string_view event) {
    if (shared_ && txn.status()) {
        // Inside the caller's transaction, as the statistics counters are:
        // a failure fails the transaction, which the caller retries; with an
        // event id the retry does not count twice in the fleet.
        auto r = shared_->feedback_add(id.key(), day, bounced, complained, event, detail::kSharedDayTtl);
        if (!r) {
            txn.fail(Error{"warm-up feedback (shared state): " + r.error().what, {}});
            return;
        }
    }
    Counters c = get_counters(txn, id, day);
    c.bounced += bounced;
    c.complained += complained;
    txn.put(t_day_, day_key(id, day), encode(c));
}

Result<Counters> Engine::counters(const IdentityKey& id, int32_t day) {
    Counters out;
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
    Counters basis;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        l = read(txn, id, today, now);
        basis = get_counters(txn, id, today - 1);
        return txn.status();
    });
    if (!st) return st.error();
    if (st = evaluate(l, today, now, false); !st) return st.error();
    if (l.fleet_version) {
        auto y = shared_->day_get(id.key(), today - 1);
        if (!y) return y.error();
        basis.sent = y->sent;
        basis.bounced = y->bounced;
        basis.complained = y->complained;
    }
    {
        // The reputation as it stands: yesterday's rates, or today's so far
        // when yesterday sent nothing.
        if (basis.sent == 0) basis = l.counters;
        double bounce_rate = basis.sent ? static_cast<double>(basis.bounced) / basis.sent : 0.0;
        double complaint_rate = basis.sent ? static_cast<double>(basis.complained) / basis.sent : 0.0;
        IdentityState s = l.state;
        s.paused = false;
        // The status's curve must not make a status slow: it stops asking
        // the policy once a hook has failed or stalled (the counters move;
        // in the daemon possibly another thread's hook, which only costs the
        // curve) or after kStatusForecastBudget; the rest of the curve then
        // stays flat and is marked not reached.
        const bool whole = volume == kWholePlan;
        const uint64_t fallbacks = policy_->fallbacks();
        const auto deadline = std::chrono::steady_clock::now() + kStatusForecastBudget;
        bool gave_up = false;
        auto give_up = [&] {
            if (whole && !gave_up && (policy_->fallbacks() != fallbacks || std::chrono::steady_clock::now() > deadline))
                gave_up = true;
            return gave_up;
        };
        uint64_t last_limit = 0;
        auto limit_at = [&](uint32_t level, int32_t day) {
            if (give_up()) return last_limit;
            IdentityState x = s;
            x.level = level;
            return last_limit = ask_limit(view(id, x, day, tz_.day_start(day), {}, {})).total;
        };
        auto upgrade_at = [&](uint32_t level, int32_t day, uint64_t sent) {
            if (give_up()) return false;
            IdentityState x = s;
            x.level = level;
            DayView y;
            y.date = date_string(day - 1);
            y.counters.sent = sent;
            y.counters.bounced = static_cast<uint64_t>(bounce_rate * static_cast<double>(sent) + 0.5);
            y.counters.complained = static_cast<uint64_t>(complaint_rate * static_cast<double>(sent) + 0.5);
            return ask_upgrade(view(id, x, day, tz_.day_start(day), {}, {}), y);
        };
        f = warmup::forecast(l.state.level, today, volume, max_days, limit_at, upgrade_at);
        if (gave_up) {
            f.reached = -1;
            f.settled = false;
            f.note = policy_->fallbacks() != fallbacks ? "incomplete: the policy failed while forecasting (see the log)"
                                                       : "incomplete: the policy was too slow to forecast further";
        }
        if (l.state.paused) f.note = "paused now; the forecast assumes it resumes today. " + f.note;
    }
    return f;
}

}  // namespace ses::warmup
