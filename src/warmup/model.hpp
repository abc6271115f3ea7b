// model.hpp -- the warm-up rules as pure functions.
//
// Everything the engine decides is computed here from plain values, so the
// rules are tested from tables (tests/unit/warmup_test.cpp):
//   * how a message's recipients fall into the quota groups of a limit;
//   * whether it fits into what is left of today (the decision table);
//   * the day change: one should_upgrade question per elapsed day;
//   * release planning: which due held messages fit, oldest first;
//   * the forecast of the days until a volume flows.
//
// Rules: each recipient counts as one message.  A message fits when its
// recipients fit into the identity's total left for today AND each group's
// left (a recipient whose domain is listed in a group counts against both).
// A paused identity fits nothing.  A message that does not fit is not split:
// the whole message goes to on_over_quota.  Release planning walks held mail
// oldest first; once an identity has a message that does not fit, every
// later message of that identity waits too, so a small new message never
// overtakes an older big one.
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "warmup/hooks.hpp"
#include "warmup/records.hpp"

namespace ses::warmup {

using DomainCounts = std::vector<std::pair<std::string, uint32_t>>;

// Recipients by lower-case domain, in first-seen order.
DomainCounts count_domains(const std::vector<std::string>& recipients);

// The group whose domain list holds `domain` or a parent of it; groups are
// tried in name order; "" when none.
std::string group_of(const Limit& limit, std::string_view domain);

struct Usage {
    uint64_t sent = 0;
    std::map<std::string, uint64_t> groups;
};

struct Need {
    uint64_t total = 0;
    std::map<std::string, uint64_t> groups;
};

Need need_of(const Limit& limit, const DomainCounts& domains);

struct Fit {
    bool ok = true;
    std::string over;    // why not: "paused", "daily limit", "group NAME"
    uint64_t limit = 0;  // of what is exceeded (or the total)
    uint64_t used = 0;   // before this message
};

Fit fits(const Limit& limit, const Usage& used, const Need& need, bool paused);
void charge(Usage& used, const Need& need);

// Rolls `s` from s.day to `today`, asking `upgrade(state, day)` once per
// elapsed day (at most the last 366) unless paused; returns the level
// changes.  A clock that went backwards rolls nothing.
struct RollStep {
    int32_t day = 0;
    uint32_t from = 0, to = 0;
};
using UpgradeQuestion = std::function<bool(const IdentityState& before, int32_t day)>;
std::vector<RollStep> roll(IdentityState& s, int32_t today, const UpgradeQuestion& upgrade);

// Release planning over due held mail, in release order.  `quotas` holds the
// limit and today's use of every identity named by the candidates (keyed by
// IdentityKey::key()) and is charged for what is planned.
struct Quota {
    Limit limit;
    Usage used;
    bool paused = false;
};
struct Candidate {
    std::vector<std::string> identities;  // IdentityKey::key()
    DomainCounts domains;
};
std::vector<bool> plan_release(const std::vector<Candidate>& due, std::map<std::string, Quota>& quotas);

// The forecast: day by day from `today` (level `level`), the daily limit,
// assuming `volume` a day is offered and the reputation stays as it is
// (upgrade() answers for that).  Stops at the first day whose limit reaches
// `volume`, after `max_days`, or when the level has not moved for 14 days.
// `volume` kWholePlan: the curve to the top, i.e. until the level stops
// moving (the end of the plan, or a reputation that holds it back), every
// day taken at its full limit; the 14 flat days that prove it are dropped
// but the first day of the last level, which is `reached`.
struct ForecastDay {
    int32_t day = 0;
    uint32_t level = 0;
    uint64_t limit = 0;
};
struct Forecast {
    std::vector<ForecastDay> days;
    int reached = -1;      // index into days, -1 when not within the horizon
    bool settled = false;  // stopped because the level stopped moving
    std::string note;
};
inline constexpr uint64_t kWholePlan = 0;
using LimitAt = std::function<uint64_t(uint32_t level, int32_t day)>;
using UpgradeAt = std::function<bool(uint32_t level, int32_t day, uint64_t sent_yesterday)>;
Forecast forecast(uint32_t level, int32_t today, uint64_t volume, int max_days, const LimitAt& limit_at,
                  const UpgradeAt& upgrade_at);

}  // namespace ses::warmup
