// address.hpp -- mailbox and domain extraction (RFC 5322 via GMime).  Pure.
//
// init() must run once before worker threads start (GMime's global state).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ses::mail {

void init();

// The addr-specs of every mailbox in an address header value (groups
// flattened).  Empty when the value does not parse.
std::vector<std::string> mailboxes(std::string_view header_value);

// Lower-cased domain part of "user@Domain" ("" when there is none).
std::string domain_of(std::string_view addr);

// Strip one pair of angle brackets from an envelope address.
std::string_view strip_brackets(std::string_view addr);

}  // namespace ses::mail
