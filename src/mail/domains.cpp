// domains.cpp -- see domains.hpp.
#include "mail/domains.hpp"

#include "util/strings.hpp"

namespace ses::mail {

std::string canonical_domain(std::string_view d) {
    std::string s = str::lower(d);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

int covering_domain(const std::vector<std::string>& configured, std::string_view domain_in, bool subdomains) {
    const std::string domain = canonical_domain(domain_in);
    if (domain.empty()) return -1;
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < configured.size(); ++i) {
        const std::string c = canonical_domain(configured[i]);
        if (c.empty()) continue;
        if (c == domain) return static_cast<int>(i);
        if (subdomains && c.size() > best_len && str::ends_with_label(domain, c)) {
            best = static_cast<int>(i);
            best_len = c.size();
        }
    }
    return best;
}

}  // namespace ses::mail
