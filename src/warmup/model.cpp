// model.cpp -- see model.hpp.
#include "warmup/model.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace ses::warmup {

DomainCounts count_domains(const std::vector<std::string>& recipients) {
    DomainCounts out;
    for (const auto& r : recipients) {
        size_t at = r.rfind('@');
        std::string d = str::lower(at == std::string::npos ? std::string_view{} : std::string_view(r).substr(at + 1));
        while (!d.empty() && d.back() == '>') d.pop_back();
        auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == d; });
        if (it == out.end())
            out.emplace_back(std::move(d), 1);
        else
            it->second++;
    }
    return out;
}

std::string group_of(const Limit& limit, std::string_view domain) {
    const Group* best = nullptr;
    for (const auto& g : limit.groups) {
        bool match = std::any_of(g.domains.begin(), g.domains.end(),
                                 [&](const std::string& d) { return domain == d || str::ends_with_label(domain, d); });
        if (match && (!best || g.name < best->name)) best = &g;
    }
    return best ? best->name : std::string();
}

Need need_of(const Limit& limit, const DomainCounts& domains) {
    Need n;
    for (const auto& [d, count] : domains) {
        n.total += count;
        if (limit.groups.empty()) continue;
        std::string g = group_of(limit, d);
        if (!g.empty()) n.groups[g] += count;
    }
    return n;
}

Fit fits(const Limit& limit, const Usage& used, const Need& need, bool paused) {
    Fit f;
    f.limit = limit.total;
    f.used = used.sent;
    if (paused) {
        f.ok = false;
        f.over = "paused";
        return f;
    }
    if (used.sent + need.total > limit.total) {
        f.ok = false;
        f.over = "daily limit";
        return f;
    }
    for (const auto& entry : need.groups) {
        // Not a structured binding: clang 14 cannot capture one in the lambda.
        const auto& name = entry.first;
        const auto n = entry.second;
        auto g = std::find_if(limit.groups.begin(), limit.groups.end(), [&](const auto& x) { return x.name == name; });
        if (g == limit.groups.end()) continue;
        auto u = used.groups.find(name);
        uint64_t have = u == used.groups.end() ? 0 : u->second;
        if (have + n > g->limit) {
            f.ok = false;
            f.over = "group " + name;
            f.limit = g->limit;
            f.used = have;
            return f;
        }
    }
    return f;
}

void charge(Usage& used, const Need& need) {
    used.sent += need.total;
    for (const auto& [name, n] : need.groups) used.groups[name] += n;
}

std::vector<RollStep> roll(IdentityState& s, int32_t today, const UpgradeQuestion& upgrade) {
    std::vector<RollStep> steps;
    if (today <= s.day) return steps;
    int32_t from = std::max(s.day + 1, today - 365);
    for (int32_t d = from; d <= today; ++d) {
        if (s.paused) continue;
        if (upgrade(s, d)) {
            steps.push_back({d, s.level, s.level + 1});
            s.level++;
        }
    }
    s.day = today;
    return steps;
}

std::vector<bool> plan_release(const std::vector<Candidate>& due, std::map<std::string, Quota>& quotas) {
    std::vector<bool> out(due.size(), false);
    std::map<std::string, bool> blocked;
    for (size_t i = 0; i < due.size(); ++i) {
        const Candidate& c = due[i];
        bool ok = !c.identities.empty();
        std::vector<Need> needs;
        for (const auto& ik : c.identities) {
            auto q = quotas.find(ik);
            if (blocked[ik] || q == quotas.end()) {
                ok = false;
                break;
            }
            needs.push_back(need_of(q->second.limit, c.domains));
            if (!fits(q->second.limit, q->second.used, needs.back(), q->second.paused).ok) ok = false;
        }
        if (!ok) {
            for (const auto& ik : c.identities) blocked[ik] = true;
            continue;
        }
        for (size_t k = 0; k < c.identities.size(); ++k) charge(quotas[c.identities[k]].used, needs[k]);
        out[i] = true;
    }
    return out;
}

Forecast forecast(uint32_t level, int32_t today, uint64_t volume, int max_days, const LimitAt& limit_at,
                  const UpgradeAt& upgrade_at) {
    Forecast f;
    const bool whole = volume == kWholePlan;
    if (whole) volume = UINT64_MAX;
    int still = 0;
    for (int i = 0; i < max_days; ++i) {
        int32_t d = today + i;
        if (i > 0) {
            const ForecastDay& y = f.days.back();
            if (upgrade_at(level, d, std::min(volume, y.limit))) {
                level++;
                still = 0;
            } else if (++still >= 14) {
                f.note =
                    "the level stays at " + std::to_string(level) + ": the plan or the upgrade rule goes no further";
                f.settled = true;
                break;
            }
        }
        uint64_t lim = limit_at(level, d);
        f.days.push_back({d, level, lim});
        if (lim >= volume) {
            f.reached = i;
            return f;
        }
    }
    if (f.note.empty()) f.note = "not within " + std::to_string(max_days) + " days";
    if (whole && f.settled) {
        // Keep the first day of the last level: the curve's top.
        size_t first = f.days.size() - 1;
        while (first > 0 && f.days[first - 1].level == f.days.back().level) --first;
        f.days.resize(first + 1);
        f.reached = static_cast<int>(first);
    }
    return f;
}

}  // namespace ses::warmup
