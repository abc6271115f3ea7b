// clock.cpp -- see clock.hpp.
#include "util/clock.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

#include <sys/stat.h>

namespace ses::clock {
namespace {
constexpr int64_t kUnset = INT64_MIN;
std::atomic<int64_t> g_override{kUnset};
std::once_flag g_env_once;

std::mutex g_file_mu;
std::string g_clock_file;  // SESMILTER_CLOCK_FILE (under g_file_mu)
std::atomic<bool> g_has_clock_file{false};
struct timespec g_seen_mtime {};
off_t g_seen_size = -1;
std::optional<int64_t> g_file_time;

void read_env() {
    const char* e = std::getenv("SESMILTER_NOW");
    if (e && *e) {
        if (auto t = parse_rfc3339(e)) g_override = *t;
    }
    if (const char* f = std::getenv("SESMILTER_CLOCK_FILE"); f && *f) set_clock_file(f);
}

// The clock file's time, re-read when the file changes.
std::optional<int64_t> file_time() {
    static std::mutex mu;
    static struct timespec seen_mtime {};
    static off_t seen_size = -1;
    static std::optional<int64_t> cached;
    struct stat st;
    if (::stat(g_clock_file.c_str(), &st) != 0) return std::nullopt;
    std::lock_guard lock(mu);
    if (st.st_mtim.tv_sec != seen_mtime.tv_sec || st.st_mtim.tv_nsec != seen_mtime.tv_nsec || st.st_size != seen_size) {
        seen_mtime = st.st_mtim;
        seen_size = st.st_size;
        cached.reset();
        if (FILE* fp = std::fopen(g_clock_file.c_str(), "r")) {
            char buf[64] = {};
            size_t n = std::fread(buf, 1, sizeof buf - 1, fp);
            std::fclose(fp);
            std::string text(buf, n);
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.pop_back();
            char* end = nullptr;
            long long v = std::strtoll(text.c_str(), &end, 10);
            if (!text.empty() && end && *end == '\0')
                cached = v;
            else
                cached = parse_rfc3339(text);
        }
    }
    return cached;
}
}  // namespace

int64_t now() {
    std::call_once(g_env_once, read_env);
    if (g_has_clock_file.load(std::memory_order_relaxed))
        if (auto t = file_time()) return *t;
    int64_t o = g_override.load(std::memory_order_relaxed);
    if (o != kUnset) return o;
    return static_cast<int64_t>(std::time(nullptr));
}

void set_clock_file(const std::string& path) {
    std::lock_guard lock(g_file_mu);
    g_clock_file = path;
    g_seen_size = -1;
    g_seen_mtime = {};
    g_file_time.reset();
    g_has_clock_file = !path.empty();
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
