// key_cache.cpp -- see key_cache.hpp.
#include "dkim/key_cache.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace ses::dkim {
namespace {

using PemReader = EVP_PKEY* (*)(BIO*, EVP_PKEY**, pem_password_cb*, void*);

PemReader real_reader() {
    static PemReader real = [] {
        void* p = dlvsym(RTLD_NEXT, "PEM_read_bio_PrivateKey", "OPENSSL_3.0.0");
        if (!p) p = dlsym(RTLD_NEXT, "PEM_read_bio_PrivateKey");
        return reinterpret_cast<PemReader>(p);
    }();
    return real;
}

// What a cache_key() handle points to.
struct CacheHandle {
    std::string pem;
    EVP_PKEY* key;
};

struct Entry {
    EVP_PKEY* key;
    int refs;
};

std::shared_mutex g_mu;
std::map<std::string, Entry, std::less<>> g_keys;
std::atomic<unsigned long> g_hits{0};
thread_local KeyLoadCapture* t_capture = nullptr;

// Never the terminal prompt: an encrypted key simply fails to parse.
int refuse_pass_phrase(char*, int, int, void*) { return -1; }

EVP_PKEY* parse(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    EVP_PKEY* k = real_reader()(bio, nullptr, refuse_pass_phrase, nullptr);
    BIO_free(bio);
    return k;
}

EVP_PKEY* lookup(BIO* bp) {
    if (BIO_method_type(bp) != BIO_TYPE_MEM) return nullptr;
    char* data = nullptr;
    long len = BIO_get_mem_data(bp, &data);
    if (len <= 0 || !data) return nullptr;
    std::shared_lock lk(g_mu);
    if (g_keys.empty()) return nullptr;
    auto it = g_keys.find(std::string_view(data, static_cast<size_t>(len)));
    if (it == g_keys.end()) return nullptr;
    EVP_PKEY_up_ref(it->second.key);
    g_hits.fetch_add(1, std::memory_order_relaxed);
    return it->second.key;
}

}  // namespace

std::shared_ptr<void> cache_key(const std::string& pem) {
    {
        std::unique_lock lk(g_mu);
        if (auto it = g_keys.find(pem); it != g_keys.end()) {
            ++it->second.refs;
        } else {
            lk.unlock();
            EVP_PKEY* k = parse(pem);
            if (!k) return nullptr;
            lk.lock();
            auto [ins, fresh] = g_keys.emplace(pem, Entry{k, 0});
            if (!fresh) EVP_PKEY_free(k);
            ++ins->second.refs;
        }
    }
    EVP_PKEY* key = nullptr;
    {
        std::shared_lock lk(g_mu);
        key = g_keys.find(pem)->second.key;  // registered above; stays while this handle lives
    }
    return std::shared_ptr<void>(new CacheHandle{pem, key}, [](void* p) {
        auto* h = static_cast<CacheHandle*>(p);
        {
            std::unique_lock lk(g_mu);
            auto it = g_keys.find(h->pem);
            if (it != g_keys.end() && --it->second.refs == 0) {
                EVP_PKEY_free(it->second.key);
                g_keys.erase(it);
            }
        }
        delete h;
    });
}

EVP_PKEY* cached_pkey(const std::shared_ptr<void>& handle) {
    return handle ? static_cast<CacheHandle*>(handle.get())->key : nullptr;
}

unsigned long cache_hits() { return g_hits.load(); }

KeyLoadCapture::KeyLoadCapture() { t_capture = this; }
KeyLoadCapture::~KeyLoadCapture() { t_capture = nullptr; }

static void note_key_load(EVP_PKEY* k) {
    if (t_capture && k) t_capture->key = k;
}

}  // namespace ses::dkim

// The interposed entry point.  libopendkim's reference to this symbol binds
// to the executable's definition; everything else behaves as OpenSSL's.
extern "C" EVP_PKEY* PEM_read_bio_PrivateKey(BIO* bp, EVP_PKEY** x, pem_password_cb* cb, void* u) {
    EVP_PKEY* k = x ? nullptr : ses::dkim::lookup(bp);
    if (!k) k = ses::dkim::real_reader()(bp, x, cb, u);
    if (!x) ses::dkim::note_key_load(k);
    return k;
}
