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
//   - new_library() installs allocator hooks in dkim_init(); each
//     SignHandle passes its own Arena as the memory closure, so every
//     allocation libopendkim makes for that handle is recorded and each free
//     erases it.  After dkim_free() of an Ed25519 handle, what is still
//     recorded is exactly what the library forgot, and is freed (after a
//     successful dkim_eom() only: error paths are left alone).
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
#include <unordered_map>

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

    // Allocations made by libopendkim for one handle that are not yet freed.
    struct Arena {
        // A signature makes a few dozen allocations; sized once so that
        // recording them never rehashes (a rehash per few inserts showed in
        // the profile, docs/PERFORMANCE.md #16).
        Arena() { live.reserve(128); }
        std::unordered_map<void*, size_t> live;
    };

private:
    Arena arena_;  // declared first: outlives d_
    DKIM* d_ = nullptr;
    bool ed25519_ = false;
    bool eom_ok_ = false;
    void* key_ = nullptr;  // EVP_PKEY* handed to libopendkim at eom()
};

}  // namespace ses::dkim
