// digest.cpp -- see digest.hpp.
#include "crypto/digest.hpp"

#include <cstdio>
#include <cstdlib>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ses::crypto {
namespace {

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "sesmilter: OpenSSL %s failed\n", what);
    std::abort();
}

}  // namespace

std::string sha256(std::string_view data) {
    std::string out(kSha256Size, '\0');
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, EVP_sha256(),
                   nullptr) != 1 ||
        len != kSha256Size)
        broken("SHA-256");
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::string out(kSha256Size, '\0');
    unsigned int len = 0;
    // HMAC() with a NULL key pointer and length 0 would mean "no key": give
    // it a valid pointer for the empty key.
    static const unsigned char empty = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    if (!HMAC(EVP_sha256(), k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
              data.size(), reinterpret_cast<unsigned char*>(out.data()), &len) ||
        len != kSha256Size)
        broken("HMAC-SHA256");
    return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ses::crypto
