// queries.hpp -- what the operator sees of an identity (sesctl warmup
// status).  Engine::status() and friends (queries.cpp) fill it.
// Pure data; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "warmup/hooks.hpp"
#include "warmup/model.hpp"
#include "warmup/records.hpp"

namespace ses::warmup {

struct IdentityStatus {
    IdentityKey id;
    IdentityState state;  // rolled to today (written by status only to a fleet's shared state)
    int32_t today = 0;
    Limit limit;
    Counters counters;  // today
    Usage usage;        // today, with groups
    uint64_t remaining = 0;
    uint32_t held_messages = 0;  // waiting in the hold queue now
    uint64_t held_recipients = 0;
    int64_t next_day_at = 0;           // when the next level decision happens
    bool upgrade_expected = false;     // should_upgrade with today's counters so far
    std::vector<LevelChange> history;  // newest last
    // The curve to the top of the plan (Engine::forecast with kWholePlan);
    // only when asked for (it asks the policy twice a day of the curve).
    std::optional<Forecast> forecast;
    // The state, used, remaining and the counters' sent, bounced and
    // complained are the fleet's (a shared state); held and released, the
    // held mail and the history are this host's.
    bool fleet = false;
};

// The horizon of the status's forecast curve, and the time it may take per
// identity (the policy answers twice a day of the curve).
inline constexpr int kStatusForecastDays = 120;
inline constexpr std::chrono::milliseconds kStatusForecastBudget{2000};

}  // namespace ses::warmup
