// clock.hpp -- the one source of "now".
//
// Everything that depends on the date (warm-up days, release times, stats)
// asks this clock.  SESMILTER_NOW (an RFC 3339 time) pins it, so tests and
// operators can simulate days without waiting; set_override() does the same
// for `sesctl --now`.  Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ses::clock {

// Seconds since the Unix epoch.
int64_t now();

// Parse "2026-11-23T10:00:00Z" / "...+02:00" / "2026-11-23" (midnight UTC).
std::optional<int64_t> parse_rfc3339(std::string_view s);
std::string format_rfc3339(int64_t t);

// Pin the clock (nullopt unpins).  Reads SESMILTER_NOW on first use otherwise.
void set_override(std::optional<int64_t> t);

}  // namespace ses::clock
