// spf_guard.hpp -- refuse SPF data that reaches libspf2's CVE-2023-42118.
//
// Debian 12's libspf2 1.2.10 compiles every macro-string (the domain-spec of
// a/mx/ptr/include/exists/redirect, every modifier value, and the TXT text an
// exp= modifier points at) into a fixed 511-byte area.  After each %{...}
// macro it starts a new string block with `avail - sizeof(SPF_data_t)`; when
// fewer than 4 bytes remain that size_t underflows, the length check that
// follows can never fail, and the next literal text is copied past the end of
// a stack buffer (upstream fix d14abff, "Fix integer underflow").
//
// The guard computes, for each such string, an upper bound of the bytes the
// compiler can use (every literal character at most 1.5 bytes -- "%-" becomes
// "%20" --, every block header and every macro at most 11 bytes with
// alignment).  When the bound is under the limit the underflow cannot happen;
// above it the record is refused before libspf2 sees it.  Real records stay
// far below the limit: a 253-character domain-spec without macros bounds at
// 402 bytes.  Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ses::auth::spf_guard {

// libspf2 underflows once 508 of its 511 bytes are used; refuse well before.
constexpr size_t kLimit = 480;

// Upper bound of libspf2's compiled size of one macro-string (one SPF term
// or one explanation text).
size_t compiled_bound(std::string_view macro_string);

// Is this TXT text an SPF record libspf2 would compile ("v=spf1" followed by
// a space or the end, any case)?
bool is_spf_record(std::string_view txt);

// Why this SPF record must not reach libspf2, or nullopt when it is safe.
std::optional<std::string> check_record(std::string_view txt);

// The same for the explanation TXT an exp= modifier points at.
std::optional<std::string> check_explanation(std::string_view txt);

// What the DNS layer hands libspf2 instead of a refused record: a record
// that fails to compile, so the result is permerror without further lookups.
constexpr std::string_view kRefusedRecord = "v=spf1 sesmilter-refused-record";

}  // namespace ses::auth::spf_guard
