// answer.hpp -- what a DNS question got back, and the Lookup interface.
//
// Every DNS consumer (SPF, DKIM verification, DMARC, identity checks) asks a
// Lookup and gets an Answer: the values in text form plus one of four
// outcomes {ok, nxdomain, nodata, temperror}.  A timeout, SERVFAIL, REFUSED or
// a DNSSEC-bogus answer is a temperror, never an empty answer, so callers can
// never mistake "the DNS is down" for "there is no record".
//
// The helpers here are pure and tested by tables (tests/unit/dns_test.cpp).
// A Lookup implementation must be safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ses::dns {

enum class Rcode { ok, nxdomain, nodata, temperror };
std::string_view rcode_name(Rcode r);  // "ok", "nxdomain", "nodata", "temperror"

namespace rr {
constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28, SPF = 99;
}
std::string_view type_name(uint16_t type);  // "TXT", "TYPE99" for unknown ones

struct Answer {
    Rcode rcode = Rcode::temperror;
    // Text form, one entry per record:
    //   TXT   the character-strings of one record concatenated (binary-safe)
    //   A     "192.0.2.1"      AAAA  "2001:db8::1"
    //   MX    the exchange host name, records ordered by preference
    //   PTR   the host name    (names without the trailing dot)
    std::vector<std::string> values;
    std::string packet;   // the whole wire-format reply, when the resolver has one
    bool secure = false;  // DNSSEC-validated
    uint32_t ttl = 0;
    std::string why;  // for temperror: what went wrong

    bool ok() const { return rcode == Rcode::ok; }
    // nxdomain or nodata: the name has no such record (RFC 7208 "void").
    bool empty() const { return rcode == Rcode::nxdomain || rcode == Rcode::nodata; }
};

// Map libunbound's outcome to an Rcode.  ub_err is ub_resolve's return value
// (non-zero: the library failed), rcode the DNS rcode of the reply.
Rcode classify(int ub_err, int rcode, bool havedata, bool bogus);

// Decode one RDATA of `type` (uncompressed wire format, as libunbound hands
// it out) to the text form above.  nullopt when malformed.  MX gives
// "PREF HOST" here; Answer::values keep only the host.
std::optional<std::string> decode_rdata(uint16_t type, std::string_view rdata);

// A name we are willing to ask about: 1..253 octets, labels 1..63 octets,
// an optional trailing dot.  Anything else is answered nxdomain without
// asking (RFC 7208 4.3 / pyspf do the same).
bool valid_name(std::string_view name);

// "192.0.2.1" -> "1.2.0.192.in-addr.arpa", IPv6 -> nibble ip6.arpa; "" if not an address.
std::string reverse_name(std::string_view ip);

// The interface every consumer takes.  Thread-safe.
class Lookup {
public:
    virtual ~Lookup() = default;
    virtual Answer query(std::string_view name, uint16_t type) const = 0;

    Answer txt(std::string_view name) const { return query(name, rr::TXT); }
    Answer a(std::string_view name) const { return query(name, rr::A); }
    Answer aaaa(std::string_view name) const { return query(name, rr::AAAA); }
    Answer mx(std::string_view name) const { return query(name, rr::MX); }
    Answer ptr(std::string_view ip) const;  // reverse lookup of an address
};

}  // namespace ses::dns
