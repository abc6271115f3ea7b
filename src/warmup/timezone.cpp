// timezone.cpp -- see timezone.hpp.
#include "warmup/timezone.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "util/strings.hpp"

namespace ses::warmup {

namespace {

constexpr int64_t kDay = 86400;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// "+02:00", "-0530", "+3", "+03" -> seconds east of UTC.
std::optional<int32_t> parse_offset(std::string_view s) {
    if (s.empty() || (s[0] != '+' && s[0] != '-')) return std::nullopt;
    int sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
    std::string digits;
    for (char c : s)
        if (c != ':') digits += c;
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    int h = 0, m = 0;
    if (digits.size() <= 2) {
        h = std::stoi(digits);
    } else {
        if (digits.size() == 3) digits = "0" + digits;
        h = std::stoi(digits.substr(0, 2));
        m = std::stoi(digits.substr(2));
    }
    if (h > 14 || m > 59 || (s.find(':') != std::string_view::npos && s.size() != 5)) return std::nullopt;
    return sign * (h * 3600 + m * 60);
}

std::mutex g_tz_mu;

// Samples the C library's idea of `name` once a day from 1970 to 2100 and
// pins each change to the second.
Result<std::vector<std::pair<int64_t, int32_t>>> sample_zone(const std::string& name) {
    std::lock_guard<std::mutex> g(g_tz_mu);
    const char* prev = std::getenv("TZ");
    std::optional<std::string> saved = prev ? std::optional<std::string>(prev) : std::nullopt;
    ::setenv("TZ", (":" + name).c_str(), 1);
    ::tzset();
    auto off = [](int64_t t) {
        time_t tt = static_cast<time_t>(t);
        struct tm tm {};
        localtime_r(&tt, &tm);
        return static_cast<int32_t>(tm.tm_gmtoff);
    };
    std::vector<std::pair<int64_t, int32_t>> out;
    const int64_t end = 4102444800;  // 2100-01-01
    int64_t t = 0;
    int32_t cur = off(t);
    out.push_back({INT64_MIN, cur});
    for (int64_t next = kDay; next <= end; next += kDay) {
        int32_t o = off(next);
        if (o == cur) continue;
        int64_t lo = next - kDay, hi = next;  // off(lo) == cur, off(hi) == o
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            (off(mid) == cur ? lo : hi) = mid;
        }
        out.push_back({hi, o});
        cur = o;
    }
    if (saved)
        ::setenv("TZ", saved->c_str(), 1);
    else
        ::unsetenv("TZ");
    ::tzset();
    return out;
}

}  // namespace

Result<TimeZone> TimeZone::load(std::string_view raw) {
    std::string name(str::trim(raw));
    TimeZone z;
    z.name_ = name;
    std::string up = str::lower(name);
    if (up.empty() || up == "utc" || up == "z" || up == "gmt" || up == "etc/utc") {
        z.name_ = name.empty() ? "UTC" : name;
        return z;
    }
    std::string_view rest = name;
    if (up.rfind("utc", 0) == 0 || up.rfind("gmt", 0) == 0) rest.remove_prefix(3);
    if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
        auto o = parse_offset(rest);
        if (!o) return internal_error("warm-up: bad time zone offset \"" + name + "\"");
        z.offsets_ = {{INT64_MIN, *o}};
        return z;
    }
    // An IANA name: it must be a file of the tz database.
    if (name.find("..") != std::string::npos || name[0] == '/')
        return internal_error("warm-up: bad time zone \"" + name + "\"");
    const char* dir = std::getenv("TZDIR");
    std::filesystem::path file = std::filesystem::path(dir && *dir ? dir : "/usr/share/zoneinfo") / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        return internal_error("warm-up: unknown time zone \"" + name + "\" (no " + file.string() + ")");
    auto offsets = sample_zone(name);
    if (!offsets) return offsets.error();
    z.offsets_ = std::move(*offsets);
    return z;
}

int32_t TimeZone::offset_at(int64_t t) const {
    auto it = std::upper_bound(offsets_.begin(), offsets_.end(), t,
                               [](int64_t v, const std::pair<int64_t, int32_t>& e) { return v < e.first; });
    return std::prev(it)->second;  // the first entry starts at INT64_MIN
}

int32_t TimeZone::day_of(int64_t t) const { return static_cast<int32_t>(floor_div(t + offset_at(t), kDay)); }

int64_t TimeZone::day_start(int32_t day) const {
    int64_t midnight = static_cast<int64_t>(day) * kDay;
    int64_t t = midnight - offset_at(midnight);
    t = midnight - offset_at(t);
    if (day_of(t) == day && day_of(t - 1) < day) return t;
    // Local midnight does not exist (a change at 00:00): the day starts at
    // the first second that belongs to it.
    int64_t lo = midnight - 26 * 3600, hi = midnight + 26 * 3600;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        (day_of(mid) >= day ? hi : lo) = mid;
    }
    return hi;
}

std::string date_string(int32_t day) {
    using namespace std::chrono;
    year_month_day ymd{sys_days{days{day}}};
    const int y = static_cast<int>(ymd.year());
    const unsigned m = static_cast<unsigned>(ymd.month()), d = static_cast<unsigned>(ymd.day());
    if (y < 0 || y > 9999) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
        return buf;
    }
    // By hand: every warm-up decision formats a few dates, and snprintf was
    // 4 % of its instructions (callgrind, docs/PERFORMANCE.md #16).
    std::string out = "0000-00-00";
    const auto digit = [](unsigned v) { return static_cast<char>('0' + v % 10); };
    const auto uy = static_cast<unsigned>(y);
    out[0] = digit(uy / 1000);
    out[1] = digit(uy / 100);
    out[2] = digit(uy / 10);
    out[3] = digit(uy);
    out[5] = digit(m / 10);
    out[6] = digit(m);
    out[8] = digit(d / 10);
    out[9] = digit(d);
    return out;
}

std::optional<int32_t> parse_date(std::string_view s) {
    using namespace std::chrono;
    int y = 0;
    unsigned m = 0, d = 0;
    int n = 0;
    std::string str(s);
    if (std::sscanf(str.c_str(), "%4d-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10 || str.size() != 10)
        return std::nullopt;
    year_month_day ymd{year{y}, month{m}, std::chrono::day{d}};
    if (!ymd.ok()) return std::nullopt;
    return static_cast<int32_t>(sys_days{ymd}.time_since_epoch().count());
}

int iso_weekday(int32_t day) {
    using namespace std::chrono;
    return static_cast<int>(weekday{sys_days{days{day}}}.iso_encoding());
}

}  // namespace ses::warmup
