// syntax.hpp -- syntax checks of configuration values the TOML types cannot
// express: milter socket specs, DNS names (domains, DKIM selectors), and the
// quoting of values echoed in error messages.
//
// Each check returns an empty string when the value is good, else the reason
// in words ("port 99999 is not between 1 and 65535").  Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ses::config {

// `unix:PATH` / `local:PATH` (PATH absolute), `inet:PORT[@ADDR]`,
// `inet6:PORT[@ADDR]`, PORT 1..65535, as libmilter's smfi_setconn reads them.
std::string socket_problem(std::string_view spec);

// A DNS name in ASCII (A-label) form: dot-separated labels of letters,
// digits and hyphens, 1..63 bytes each, no hyphen at either end of a label,
// 253 bytes at most.  One trailing dot is not accepted (names are relative to
// nothing here).
std::string dns_name_problem(std::string_view name);

// A value for an error message: double-quoted, control and non-ASCII bytes
// escaped as \xNN, cut to 80 bytes of the value with "..." after, so that a
// 50 MB value does not become a 50 MB log line.
std::string quoted(std::string_view value);

}  // namespace ses::config
