// strings.hpp -- small string helpers shared by every layer.  Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ses::str {

std::string lower(std::string_view s);
std::string_view trim(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::vector<std::string> split(std::string_view s, char sep);
bool ends_with_label(std::string_view domain, std::string_view parent);  // "a.b.c" under "b.c"

// "10MB", "512KB", "1GB", "1048576" (decimal multipliers: 1MB = 1 000 000,
// as the seeds' "10 MB" is written; "MiB"/"KiB" give binary).
std::optional<uint64_t> parse_size(std::string_view s);

// Duration: "30s", "5m", "24h", "2d", or plain seconds.
std::optional<int64_t> parse_duration(std::string_view s);

}  // namespace ses::str
