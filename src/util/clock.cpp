// clock.cpp -- see clock.hpp.
#include "util/clock.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace ses::clock {
namespace {
constexpr int64_t kUnset = INT64_MIN;
std::atomic<int64_t> g_override{kUnset};
std::once_flag g_env_once;

void read_env() {
    const char* e = std::getenv("SESMILTER_NOW");
    if (e && *e) {
        if (auto t = parse_rfc3339(e)) g_override = *t;
    }
}
}  // namespace

int64_t now() {
    std::call_once(g_env_once, read_env);
    int64_t o = g_override.load(std::memory_order_relaxed);
    if (o != kUnset) return o;
    return static_cast<int64_t>(std::time(nullptr));
}

void set_override(std::optional<int64_t> t) {
    std::call_once(g_env_once, read_env);
    g_override = t ? *t : kUnset;
}

std::optional<int64_t> parse_rfc3339(std::string_view s) {
    int y, mo, d, h = 0, mi = 0, se = 0;
    std::string str(s);
    int n = 0;
    if (std::sscanf(str.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return std::nullopt;
    size_t pos = 10;
    int64_t offset = 0;
    if (pos < str.size()) {
        if (str[pos] != 'T' && str[pos] != 't' && str[pos] != ' ') return std::nullopt;
        int m = 0;
        if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &m) != 3 || m != 8) return std::nullopt;
        pos += 1 + m;
        if (pos < str.size() && str[pos] == '.') {  // fractional seconds: ignored
            ++pos;
            while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') ++pos;
        }
        if (pos == str.size()) return std::nullopt;
        if (str[pos] == 'Z' || str[pos] == 'z') {
            ++pos;
        } else if (str[pos] == '+' || str[pos] == '-') {
            int oh, om, k = 0;
            if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) return std::nullopt;
            offset = (oh * 3600 + om * 60) * (str[pos] == '+' ? 1 : -1);
            pos += 1 + k;
        } else {
            return std::nullopt;
        }
        if (pos != str.size()) return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
    struct tm tm = {};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return static_cast<int64_t>(timegm(&tm)) - offset;
}

std::string format_rfc3339(int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace ses::clock
