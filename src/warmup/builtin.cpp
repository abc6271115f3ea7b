// builtin.cpp -- see builtin.hpp.
#include "warmup/builtin.hpp"

namespace ses::warmup::builtin {

namespace {
constexpr uint64_t kSeedPlan[] = {500,    1000,   2000,   5000,   10000,  20000,  40000,  60000,  80000,  100000,
                                  150000, 200000, 300000, 400000, 500000, 600000, 700000, 800000, 900000, 1000000};
}

std::span<const uint64_t> seed_plan() { return kSeedPlan; }

uint32_t max_level() { return static_cast<uint32_t>(std::size(kSeedPlan)); }

uint64_t plan_limit(uint32_t level) {
    if (level < 1) level = 1;
    if (level > max_level()) level = max_level();
    return kSeedPlan[level - 1];
}

Limit daily_limit(const IdentityView& id) { return Limit{plan_limit(id.level), {}}; }

bool should_upgrade(const IdentityView& id, const DayView& y) {
    if (id.level >= max_level()) return false;
    if (y.counters.sent == 0) return y.counters.bounced == 0 && y.counters.complained == 0;
    double sent = static_cast<double>(y.counters.sent);
    return y.counters.bounced / sent < kMaxBounceRate && y.counters.complained / sent < kMaxComplaintRate;
}

OverQuota on_over_quota(const MessageView&, const IdentityView&, int64_t hold_seconds) {
    return OverQuota{Action::hold, hold_seconds, {}, {}};
}

}  // namespace ses::warmup::builtin
