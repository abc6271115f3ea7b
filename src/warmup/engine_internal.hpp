// engine_internal.hpp -- what the engine's files share (engine.cpp,
// decision.cpp, release.cpp, queries.cpp); not for other modules.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmup/engine.hpp"

namespace ses::warmup {

// One identity: what the store held (Engine::read()), then what the policy
// makes of it (Engine::evaluate(), outside any transaction).
struct Engine::Loaded {
    IdentityKey id;
    std::optional<std::string> stored;  // the identity record as read; nullopt: none yet
    IdentityState state;                // rolled to today by evaluate()
    std::map<int32_t, Counters> past;   // the days the roll asks about
    Counters counters;                  // today
    Usage usage;                        // today
    Limit limit;                        // by evaluate()
    std::vector<RollStep> steps;
    bool dirty = false;  // the state must be written
    // With a shared state: the version of the fleet's state that `state`
    // is (stored is then the local mirror as read), and whether this
    // engine wrote it (its roll steps are then in the local history).
    std::optional<uint64_t> fleet_version;
    bool fleet_won = false;
};

namespace detail {

// How often a decision is made again when the store changed under it, and
// the status that aborts the write transaction then.
inline constexpr int kDecideAttempts = 8;
// A day's counters in the fleet's shared store outlive the day in every
// time zone.
inline constexpr int64_t kSharedDayTtl = 3 * 86400;
inline const Status kConflict = internal_error("warm-up: changed meanwhile");

inline bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace detail
}  // namespace ses::warmup
