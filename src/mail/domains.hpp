// domains.hpp -- which configured domain covers a domain name.  Pure.
//
// The one answer to "which [[domain]] does this address belong to", used
// by DKIM key selection, the identity decision and warm-up.  Names compare
// canonically: ASCII lower case, one trailing dot removed.  A configured
// domain covers itself and, when `subdomains` ([dkim] subdomains) is on,
// every name below it; the exact match wins, else the longest covering
// parent.  Errors: none (an empty name is covered by nothing).
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ses::mail {

// "Example.COM." -> "example.com".
std::string canonical_domain(std::string_view d);

// Index into `configured` of the domain covering `domain`, or -1.
int covering_domain(const std::vector<std::string>& configured, std::string_view domain, bool subdomains);

}  // namespace ses::mail
