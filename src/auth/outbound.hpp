// outbound.hpp -- is this transaction outbound (submission) or inbound?
//
// One sesmilter can serve a Postfix submission port and its MX port at the
// same time.  A transaction is outbound when any [outbound] rule matches:
// the client authenticated with SASL (authenticated = true), the client
// address is inside one of `networks`, or Postfix's {daemon_name} is one of
// `daemons`.  Outbound mail is checked against the sending identities and
// signed; the rest is inbound and, with [verify] enabled, verified.
// Pure functions, tested by a table; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "auth/settings.hpp"
#include "mail/message.hpp"

namespace ses::auth {

struct OutboundDecision {
    bool outbound = false;
    std::string why;  // "SASL user alice", "client 127.0.0.1 in 127.0.0.0/8", "daemon ORIGINATING", "inbound"
};

OutboundDecision classify_outbound(const mail::Envelope& env, const OutboundSettings& s);

// Does `cidr` ("192.0.2.0/24", "2001:db8::/32", or a bare address) contain
// `ip`?  IPv4-mapped IPv6 addresses count as IPv4.  false when either does
// not parse.
bool cidr_contains(std::string_view cidr, std::string_view ip);

// nullopt when `cidr` is valid, else what is wrong (for config checks).
std::optional<std::string> check_cidr(std::string_view cidr);

}  // namespace ses::auth
