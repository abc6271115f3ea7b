// log.cpp -- see log.hpp.
#include "util/log.hpp"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

namespace ses::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<Target> g_target{Target::stderr_};
std::mutex g_mu;
std::string g_ident = "sesmilter";
std::atomic<bool> g_journal{false};

// systemd sets JOURNAL_STREAM=DEV:INODE when stderr is connected to the
// journal; then each line starts with "<N>" (its syslog priority), which the
// journal keeps as the line's level, and the journal adds time and pid.
bool stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    struct stat st;
    if (!js || fstat(2, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    return dev == static_cast<unsigned long long>(st.st_dev) && ino == static_cast<unsigned long long>(st.st_ino);
}

int syslog_priority(Level l) {
    switch (l) {
        case Level::debug:
            return LOG_DEBUG;
        case Level::info:
            return LOG_INFO;
        case Level::notice:
            return LOG_NOTICE;
        case Level::warning:
            return LOG_WARNING;
        case Level::error:
            return LOG_ERR;
    }
    return LOG_INFO;
}

int facility_code(std::string_view f) {
    struct {
        std::string_view n;
        int c;
    } table[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
        {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}, {"user", LOG_USER},
    };
    for (auto& t : table)
        if (t.n == f) return t.c;
    return LOG_MAIL;
}
}  // namespace

bool parse_level(std::string_view s, Level& out) {
    for (int i = 0; i <= static_cast<int>(Level::error); ++i)
        if (level_name(static_cast<Level>(i)) == s) {
            out = static_cast<Level>(i);
            return true;
        }
    return false;
}

std::string_view level_name(Level l) {
    switch (l) {
        case Level::debug:
            return "debug";
        case Level::info:
            return "info";
        case Level::notice:
            return "notice";
        case Level::warning:
            return "warning";
        case Level::error:
            return "error";
    }
    return "info";
}

void setup(std::string_view ident, Target target, Level level, std::string_view facility) {
    std::lock_guard lk(g_mu);
    g_ident = std::string(ident);
    g_target = target;
    g_level = static_cast<int>(level);
    g_journal = target == Target::stderr_ && stderr_is_journal();
    if (target == Target::syslog) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, facility_code(facility));
}

void set_level(Level level) { g_level = static_cast<int>(level); }

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view line) {
    if (!enabled(level)) return;
    if (g_target == Target::syslog) {
        syslog(syslog_priority(level), "%.*s", static_cast<int>(line.size()), line.data());
        return;
    }
    if (g_journal) {
        std::string out = "<" + std::to_string(syslog_priority(level)) + ">";
        out += level_name(level);
        out += ": ";
        out += line;
        out += '\n';
        std::lock_guard lk(g_mu);
        fwrite(out.data(), 1, out.size(), stderr);
        fflush(stderr);
        return;
    }
    char ts[32];
    std::time_t t = std::time(nullptr);
    struct tm tm;
    gmtime_r(&t, &tm);
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string out;
    out.reserve(line.size() + 64);
    out += ts;
    out += ' ';
    out += g_ident;
    out += '[';
    out += std::to_string(getpid());
    out += "]: ";
    out += level_name(level);
    out += ": ";
    out += line;
    out += '\n';
    std::lock_guard lk(g_mu);
    fwrite(out.data(), 1, out.size(), stderr);
    fflush(stderr);
}

}  // namespace ses::log
