// strings.cpp -- see strings.hpp.
#include "util/strings.hpp"

#include <cctype>
#include <charconv>

namespace ses::str {

std::string lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
        if (p == std::string_view::npos) break;
        start = p + 1;
    }
    return out;
}

bool ends_with_label(std::string_view domain, std::string_view parent) {
    if (domain.size() <= parent.size() + 1) return false;
    size_t off = domain.size() - parent.size();
    return domain[off - 1] == '.' && iequals(domain.substr(off), parent);
}

namespace {
std::optional<uint64_t> parse_scaled(std::string_view s, const std::pair<std::string_view, uint64_t>* units,
                                     size_t nunits) {
    s = trim(s);
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p == s.data()) return std::nullopt;
    std::string unit = lower(trim(std::string_view(p, s.data() + s.size() - p)));
    for (size_t i = 0; i < nunits; ++i) {
        if (unit == units[i].first) {
            if (units[i].second && n > UINT64_MAX / units[i].second) return std::nullopt;
            return n * units[i].second;
        }
    }
    return std::nullopt;
}
}  // namespace

std::optional<uint64_t> parse_size(std::string_view s) {
    static const std::pair<std::string_view, uint64_t> units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1000},
        {"mb", 1000000},
        {"gb", 1000000000},
        {"kib", 1024},
        {"mib", 1024 * 1024},
        {"gib", 1024ull * 1024 * 1024},
        {"k", 1000},
        {"m", 1000000},
        {"g", 1000000000},
    };
    return parse_scaled(s, units, std::size(units));
}

std::optional<int64_t> parse_duration(std::string_view s) {
    static const std::pair<std::string_view, uint64_t> units[] = {
        {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800},
    };
    auto v = parse_scaled(s, units, std::size(units));
    if (!v || *v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(*v);
}

}  // namespace ses::str
