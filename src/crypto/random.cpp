// random.cpp -- see random.hpp.
#include "crypto/random.hpp"

#include <climits>
#include <cstdio>
#include <cstdlib>

#include <openssl/rand.h>

namespace ses::crypto {

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    for (size_t off = 0; off < n;) {
        int chunk = static_cast<int>(std::min<size_t>(n - off, INT_MAX));
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + off), chunk) != 1) {
            std::fprintf(stderr, "sesmilter: OpenSSL RAND_bytes failed\n");
            std::abort();
        }
        off += static_cast<size_t>(chunk);
    }
    return out;
}

}  // namespace ses::crypto
