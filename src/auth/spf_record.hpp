// spf_record.hpp -- RFC 7208 syntax check and normalisation of SPF records
// before libspf2 compiles them.
//
// libspf2 1.2.10 follows RFC 4408 loosely: it accepts records RFC 7208
// calls permerror (non-ASCII or control characters, "a:museum", "a:", an
// unknown macro letter, two redirect= modifiers, "ip4:1.2.3.4/032", ...),
// rejects some valid ones (CIDR length 0, unknown modifiers with '-' or '.'
// in their names) and evaluates redirect= where it stands instead of after
// every mechanism.  The DNS layer therefore runs each SPF record through
// normalize() first:
//   - a record that does not match the RFC 7208 grammar (section 12) is
//     refused: the result is permerror with the reason;
//   - unknown modifiers are dropped (they have no meaning, RFC 7208 6);
//   - redirect= moves to the end, and is dropped when an "all" mechanism is
//     present (RFC 7208 6.1);
//   - CIDR length 0, which libspf2 refuses, is rewritten into terms it
//     accepts: ip4:x/0 becomes ip4:0.0.0.0/1 ip4:128.0.0.0/1 (ip6 alike); an
//     a or mx mechanism whose length for the client's address family is 0
//     becomes exists:<domain>.<marker>, a name the DNS layer answers itself
//     (marker_query()) from the domain's A/AAAA or MX records.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ses::auth::spf_record {

struct Normalized {
    bool ok = false;
    std::string record;  // what libspf2 gets (when ok)
    std::string error;   // why the record is a permerror (when !ok)
};

// client_ipv6: the client address is IPv6 (IPv4-mapped counts as IPv4).
Normalized normalize(std::string_view record, bool client_ipv6);

// A name made by normalize() for a zero-length CIDR: the domain to look at
// and what to ask.  kind: "a4" any A, "a6" any AAAA, "mx4" any MX host with
// an A, "mx6" any MX host with an AAAA.
struct Marker {
    std::string domain;
    std::string kind;
};
std::optional<Marker> marker_query(std::string_view name);

constexpr std::string_view kMarkerSuffix = ".sesmilter-cidr0.invalid";

// RFC 7208 7.3: an expanded name longer than 253 characters loses labels
// from the left until it fits.
std::string truncate_name(std::string_view name);

}  // namespace ses::auth::spf_record
