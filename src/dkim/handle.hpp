// handle.hpp -- libopendkim signing handles that free everything they own.
//
// libopendkim 2.11 (Debian 12) frees a signing handle's key material in
// dkim_free() only for RSA keys: every Ed25519 signature leaves behind its
// 64-byte signature buffer (allocated through the library's allocator) and
// one reference to the EVP_PKEY it loaded (a whole key when the key cache
// missed, otherwise a reference that keeps the cached key alive forever).
// Fixed upstream (OpenDKIM PR #321), not in Debian 12.
//
// The work-around, without reaching into libopendkim's private structs:
//   - new_library() installs allocator hooks in dkim_init(); each Ed25519
//     SignHandle passes its own Arena as the memory closure, and every
//     allocation libopendkim makes for that handle inside dkim_eom() (where
//     the signature buffer is made) is recorded and each free erases it.
//     After dkim_free() of an Ed25519 handle, what is still recorded is
//     exactly what the library forgot, and is freed (after a successful
//     dkim_eom() only: error paths are left alone).  RSA handles pass no
//     closure: libopendkim frees all they own, so nothing is recorded.
//     Recording only inside dkim_eom() keeps the record a few entries long
//     (a flat vector, no allocation per libopendkim allocation); recording
//     every allocation in a hash map cost ~35 000 instructions per signature
//     (docs/PERFORMANCE.md #16).
//   - eom() runs dkim_eom() under a KeyLoadCapture (key_cache.hpp), which
//     records the key the interposed PEM_read_bio_PrivateKey handed to
//     libopendkim; after dkim_free() of an Ed25519 handle that reference is
//     dropped.  RSA handles are left to libopendkim, which frees them.
// handle_stats() counts what was released (for tests and benchmarks).
//
// Thread safety: a SignHandle is used by one thread at a time (libopendkim's
// rule); eom() must run on the thread that will not start another eom()
// meanwhile (the capture is thread-local).  new_library() is thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "dkim/opendkim.hpp"

namespace ses::dkim {

// dkim_init() with the allocator hooks SignHandle relies on.  nullptr on
// failure.  Free with dkim_close().
DKIM_LIB* new_library();

struct HandleStats {
    unsigned long ed25519_handles = 0;  // Ed25519 handles freed
    unsigned long buffers_freed = 0;    // allocations libopendkim left behind, freed here
    unsigned long keys_freed = 0;       // key references libopendkim left behind, dropped here
};
HandleStats handle_stats();

class SignHandle {
public:
    // dkim_sign() with this handle's memory closure; get() is nullptr on
    // failure and `st` says why.
    SignHandle(DKIM_LIB* lib, const char* id, const char* key, const char* selector, const char* domain,
               dkim_canon_t hc, dkim_canon_t bc, dkim_alg_t alg, DKIM_STAT* st);
    ~SignHandle();
    SignHandle(const SignHandle&) = delete;
    SignHandle& operator=(const SignHandle&) = delete;

    DKIM* get() const { return d_; }
    DKIM_STAT eom();  // dkim_eom(), recording the key libopendkim loads

    // Allocations made by libopendkim for one handle during dkim_eom() that
    // are not yet freed.
    struct Arena {
        bool recording = false;  // set while dkim_eom() runs
        std::vector<std::pair<void*, size_t>> live;
    };

private:
    Arena arena_;  // declared first: outlives d_
    DKIM* d_ = nullptr;
    bool ed25519_ = false;
    bool eom_ok_ = false;
    void* key_ = nullptr;  // EVP_PKEY* handed to libopendkim at eom()
};

}  // namespace ses::dkim
