// authentication_results.hpp -- the Authentication-Results header (RFC 8601).
//
// format() writes one header value from the method results in the order
// given:
//
//   mx.example.com;
//   	dkim=pass header.d=example.com header.s=s1 header.b=DQPvUjlz;
//   	spf=pass smtp.mailfrom=alice@example.com;
//   	dmarc=pass (p=reject) header.from=example.com
//
// and "mx.example.com; none" when there is nothing to report.  Property
// values are written as a token, a local-part@domain or a quoted-string,
// comments have their parentheses and backslashes escaped, and nothing
// from the message can add a CR or LF.  Lines are folded with "\n\t", as
// libmilter wants header values.  authserv_id() reads the authserv-id of an
// existing header, so forged ones that claim to be ours can be removed.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ses::auth {

struct MethodResult {
    std::string method;                                      // "dkim", "spf", "dmarc"
    std::string result;                                      // "pass", "fail", ...
    std::string comment;                                     // free text, written as a (comment); may be empty
    std::vector<std::pair<std::string, std::string>> props;  // {"header.d", "example.com"}
};

std::string format_authentication_results(std::string_view authserv_id, const std::vector<MethodResult>& results);

// The authserv-id an Authentication-Results value starts with, or nullopt
// when it does not parse.
std::optional<std::string> authserv_id(std::string_view header_value);

// RFC 8601 pvalue: the text itself when it is a token or a plain
// local-part@domain, else a quoted-string.
std::string property_value(std::string_view v);

// "(text)" with (, ) and \ escaped and control characters dropped.
std::string comment(std::string_view text);

}  // namespace ses::auth
