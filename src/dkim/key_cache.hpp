// key_cache.hpp -- parsed private keys, for libopendkim and the native signer.
//
// libopendkim takes a signing key as PEM text and parses it again for every
// signature (PEM_read_bio_PrivateKey at dkim_eom).  With OpenSSL 3 that parse
// costs more than an RSA-2048 signature and ten times an Ed25519 one (see
// docs/PERFORMANCE.md).  sesmilter parses each key once, when the key store
// loads, and registers it here; key_cache.cpp interposes
// PEM_read_bio_PrivateKey so that a memory BIO holding exactly a registered
// key's text gets that parsed key (one more reference) instead of a new
// parse.  Any other call goes to OpenSSL unchanged.  Thread-safe.
#pragma once

#include <memory>
#include <string>

using EVP_PKEY = struct evp_pkey_st;  // OpenSSL's type, without its headers

namespace ses::dkim {

// Registers `pem`; the returned handle unregisters it when the last copy is
// destroyed.  nullptr when the text does not parse.
std::shared_ptr<void> cache_key(const std::string& pem);

// While alive, records in `key` the EVP_PKEY* that PEM_read_bio_PrivateKey
// returns on this thread (from the cache or from a real parse): the caller
// of libopendkim can then drop a reference the library forgets (see
// handle.hpp).  One capture per thread at a time.
struct KeyLoadCapture {
    KeyLoadCapture();
    ~KeyLoadCapture();
    KeyLoadCapture(const KeyLoadCapture&) = delete;
    KeyLoadCapture& operator=(const KeyLoadCapture&) = delete;
    void* key = nullptr;
};

// The parsed key a cache_key() handle keeps registered (valid while the
// handle lives), for signing with OpenSSL directly; nullptr for a null
// handle.
EVP_PKEY* cached_pkey(const std::shared_ptr<void>& handle);

// Keys served from the cache since start (for tests and benchmarks).
unsigned long cache_hits();

}  // namespace ses::dkim
