// log.hpp -- leveled logging to stderr or syslog.
//
// On stderr connected to systemd's journal ($JOURNAL_STREAM), lines carry a
// "<N>" priority prefix instead of a time stamp, so the journal keeps levels.
//
// One line per event; callers format the whole line.  Thread-safe: lines
// from worker threads never interleave.  Level and target are set once at
// start-up and on reload (atomics), so logging never takes a config lock.
#pragma once

#include <string>
#include <string_view>

namespace ses::log {

enum class Level { debug = 0, info, notice, warning, error };

enum class Target { stderr_, syslog };

bool parse_level(std::string_view s, Level& out);
std::string_view level_name(Level l);

void setup(std::string_view ident, Target target, Level level, std::string_view facility = "mail");
void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);

inline void debug(std::string_view s) {
    if (enabled(Level::debug)) write(Level::debug, s);
}
inline void info(std::string_view s) { write(Level::info, s); }
inline void notice(std::string_view s) { write(Level::notice, s); }
inline void warn(std::string_view s) { write(Level::warning, s); }
inline void error(std::string_view s) { write(Level::error, s); }

}  // namespace ses::log
