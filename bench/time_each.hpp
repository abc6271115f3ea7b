// time_each.hpp -- per-call timing for the micro-benchmarks: runs f(i) n
// times and gives the median and the 99th percentile in microseconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace ses::bench {

struct Figures {
    double median, p99;
};

template <class F>
Figures time_each(int n, F&& f) {
    std::vector<double> us;
    us.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        f(i);
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

}  // namespace ses::bench
