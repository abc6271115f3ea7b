// spf_guard.cpp -- see spf_guard.hpp.
#include "auth/spf_guard.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace ses::auth::spf_guard {

size_t compiled_bound(std::string_view s) {
    // Literal bytes: at most 1.5 per source character.  Blocks: every '%'
    // may open a macro (one variable block) and end a string block, plus the
    // first string block and an optional CIDR block.  Each block is a 4-byte
    // header aligned to 8: at most 11 bytes.
    size_t percents = static_cast<size_t>(std::count(s.begin(), s.end(), '%'));
    size_t literal = (s.size() * 3 + 1) / 2;
    return literal + 11 * (2 * percents + 2);
}

bool is_spf_record(std::string_view txt) {
    if (txt.size() < 6 || !str::iequals(txt.substr(0, 6), "v=spf1")) return false;
    return txt.size() == 6 || txt[6] == ' ';
}

std::optional<std::string> check_record(std::string_view txt) {
    if (!is_spf_record(txt)) return std::nullopt;
    // libspf2 splits terms on spaces only.
    size_t i = 6, n = 0;
    while (i < txt.size()) {
        while (i < txt.size() && txt[i] == ' ') ++i;
        size_t j = txt.find(' ', i);
        if (j == std::string_view::npos) j = txt.size();
        if (j > i) {
            ++n;
            std::string_view term = txt.substr(i, j - i);
            size_t b = compiled_bound(term);
            if (b > kLimit)
                return "SPF term " + std::to_string(n) + " (" + std::to_string(term.size()) +
                       " characters) could overflow libspf2's macro compiler (CVE-2023-42118): refused";
        }
        i = j;
    }
    return std::nullopt;
}

std::optional<std::string> check_explanation(std::string_view txt) {
    if (compiled_bound(txt) > kLimit)
        return "SPF explanation (" + std::to_string(txt.size()) +
               " characters) could overflow libspf2's macro compiler (CVE-2023-42118): ignored";
    return std::nullopt;
}

}  // namespace ses::auth::spf_guard
