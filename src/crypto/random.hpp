// random.hpp -- cryptographically strong random bytes (OpenSSL's DRBG).
//
// For tokens and keys.  Errors: the DRBG failing to seed is a broken
// invariant (no safe value to return) and aborts with a message.
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace ses::crypto {

std::string random_bytes(size_t n);

}  // namespace ses::crypto
