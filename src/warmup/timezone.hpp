// timezone.hpp -- calendar days in the warm-up time zone.
//
// Warm-up days are calendar days in one configured zone (default UTC).  A
// zone is "UTC" (or "Z", "GMT"), a fixed offset east of UTC ("+02:00",
// "-0530", "UTC+3", "UTC-05:30"), or an IANA name from the system tz
// database ("Europe/Paris", "America/Sao_Paulo").  An IANA zone is read once,
// at load(), through the C library (TZ + localtime_r) into a table of UTC
// offset changes from 1970 to 2100; later lookups use only that table.
// Because load() briefly sets the process's TZ variable, call it at start-up
// before other threads run (a change of zone needs a restart).
//
// Days are numbered from 1970-01-01 (day 0) in local time.
// Errors: load() fails on an unknown zone.  Thread safety: a loaded
// TimeZone is immutable and may be shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ses::warmup {

class TimeZone {
public:
    TimeZone() : name_("UTC") {}  // UTC
    static Result<TimeZone> load(std::string_view name);

    const std::string& name() const { return name_; }
    int32_t offset_at(int64_t t) const;    // seconds east of UTC in force at t
    int32_t day_of(int64_t t) const;       // local calendar day of t
    int64_t day_start(int32_t day) const;  // first second of that local day

private:
    std::string name_;
    // (from, offset): offset applies from `from` (UTC seconds) on; sorted;
    // the first entry starts at INT64_MIN.
    std::vector<std::pair<int64_t, int32_t>> offsets_{{INT64_MIN, 0}};
};

// Civil dates (proleptic Gregorian), independent of any zone.
std::string date_string(int32_t day);                   // "2026-11-23"
std::optional<int32_t> parse_date(std::string_view s);  // "2026-11-23" -> day
int iso_weekday(int32_t day);                           // 1 = Monday .. 7 = Sunday

}  // namespace ses::warmup
