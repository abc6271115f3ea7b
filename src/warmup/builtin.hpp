// builtin.hpp -- the built-in warm-up rules and the seed plan.
//
// These reproduce the seed behaviour and are what every hook falls back to
// when no script is configured, the script does not register the hook, or
// the hook fails (error, budget, memory, nonsense result):
//   daily_limit     the seed plan, day 1..20: 500 .. 1 000 000;
//   should_upgrade  one level a day up to level 20, unless yesterday's
//                   bounce rate >= 5 % or complaint rate >= 0.1 % of sent;
//   on_over_quota   hold for the configured hold duration (24 h).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>

#include "warmup/hooks.hpp"

namespace ses::warmup::builtin {

inline constexpr double kMaxBounceRate = 0.05;
inline constexpr double kMaxComplaintRate = 0.001;

std::span<const uint64_t> seed_plan();
uint32_t max_level();                 // the plan's length (20)
uint64_t plan_limit(uint32_t level);  // level < 1 counts as 1, past the end as the last

Limit daily_limit(const IdentityView& id);
bool should_upgrade(const IdentityView& id, const DayView& yesterday);
OverQuota on_over_quota(const MessageView& m, const IdentityView& id, int64_t hold_seconds);

}  // namespace ses::warmup::builtin
