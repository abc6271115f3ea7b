// handle.cpp -- see handle.hpp.
#include "dkim/handle.hpp"

#include <atomic>
#include <cstdlib>

#include <openssl/evp.h>

#include "dkim/key_cache.hpp"

namespace ses::dkim {
namespace {

std::atomic<unsigned long> g_ed25519{0}, g_buffers{0}, g_keys{0};

// libopendkim calls these with the handle's memory closure (the Arena), or
// with nullptr for allocations of the library handle itself.
void* hook_malloc(void* closure, size_t n) {
    void* p = std::malloc(n);
    if (p && closure) {
        auto* a = static_cast<SignHandle::Arena*>(closure);
        if (a->recording) a->live.emplace_back(p, n);
    }
    return p;
}

void hook_free(void* closure, void* p) {
    if (closure) {
        // A few entries at most (only dkim_eom()'s allocations), and the
        // newest is the likeliest to go first.
        auto& live = static_cast<SignHandle::Arena*>(closure)->live;
        for (size_t i = live.size(); i-- > 0;)
            if (live[i].first == p) {
                live[i] = live.back();
                live.pop_back();
                break;
            }
    }
    std::free(p);
}

}  // namespace

DKIM_LIB* new_library() { return dkim_init(hook_malloc, hook_free); }

HandleStats handle_stats() { return {g_ed25519.load(), g_buffers.load(), g_keys.load()}; }

SignHandle::SignHandle(DKIM_LIB* lib, const char* id, const char* key, const char* selector, const char* domain,
                       dkim_canon_t hc, dkim_canon_t bc, dkim_alg_t alg, DKIM_STAT* st)
    : ed25519_(alg == DKIM_SIGN_ED25519SHA256) {
    d_ = dkim_sign(lib, reinterpret_cast<const unsigned char*>(id), ed25519_ ? &arena_ : nullptr,
                   reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(key)),
                   reinterpret_cast<const unsigned char*>(selector), reinterpret_cast<const unsigned char*>(domain), hc,
                   bc, alg, -1, st);
}

DKIM_STAT SignHandle::eom() {
    KeyLoadCapture capture;
    arena_.recording = true;
    DKIM_STAT st = dkim_eom(d_, nullptr);
    arena_.recording = false;
    if (capture.key) key_ = capture.key;
    eom_ok_ = st == DKIM_STAT_OK;
    return st;
}

SignHandle::~SignHandle() {
    if (!d_) return;
    dkim_free(d_);
    if (!ed25519_) return;  // libopendkim freed the RSA key material itself
    g_ed25519.fetch_add(1, std::memory_order_relaxed);
    // After a successful signature only the library's forgotten crypto
    // buffer can remain: everything else it allocates for a handle goes
    // through CLOBBER (the free hook); checked under valgrind.  Error paths
    // are not known to be as tidy, so there a leak is preferred to the risk
    // of freeing something twice.
    for (auto& [p, n] : arena_.live) {
        if (!eom_ok_) break;
        std::free(p);
        g_buffers.fetch_add(1, std::memory_order_relaxed);
    }
    arena_.live.clear();
    if (key_) {
        EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
        g_keys.fetch_add(1, std::memory_order_relaxed);
    }
}

}  // namespace ses::dkim
