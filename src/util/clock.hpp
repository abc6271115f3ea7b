// clock.hpp -- the one source of "now".
//
// Everything that depends on the date (warm-up days, release times, stats)
// asks this clock.  SESMILTER_NOW (an RFC 3339 time) pins it, so tests and
// operators can simulate days without waiting; set_override() does the same
// for `sesctl --now`.
//
// Test only: SESMILTER_CLOCK_FILE names a file holding an RFC 3339 time (or
// Unix seconds); while it exists and parses, now() returns its time, re-read
// whenever the file's mtime or size changes, so that a test can advance the
// clock of a running daemon (a webhook endpoint "down for an hour" in CI).
// It wins over SESMILTER_NOW.  Costs one stat() per call, and only when set.
// Thread-safe.
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

// Test only: what SESMILTER_CLOCK_FILE does, for unit tests ("" turns it off).
void set_clock_file(const std::string& path);

// Pin the clock (nullopt unpins).  Reads SESMILTER_NOW on first use otherwise.
void set_override(std::optional<int64_t> t);

}  // namespace ses::clock
