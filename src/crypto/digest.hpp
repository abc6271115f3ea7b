// digest.hpp -- SHA-256, HMAC-SHA256 and constant-time comparison.
//
// The primitives behind tokens, return-path tags, webhook signatures and API
// keys.  OpenSSL is included only here, in the other src/crypto/ files and
// in src/dkim/.  Digests are raw bytes (32 of them); encode them with
// encoding.hpp.  Errors: none expected; an OpenSSL failure here is a broken
// invariant and aborts.  Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

namespace ses::crypto {

constexpr size_t kSha256Size = 32;

std::string sha256(std::string_view data);                             // 32 raw bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes (RFC 2104)

// True when a and b are equal, in time that depends only on their lengths
// (compare MACs and tokens with this, never with ==).
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace ses::crypto
