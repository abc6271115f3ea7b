// key_store.cpp -- see key_store.hpp.  OpenSSL is used here only to check
// keys and derive their public records; signing itself is libopendkim's.
#include "dkim/key_store.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/encoding.hpp"
#include "dkim/key_cache.hpp"
#include "mail/domains.hpp"
#include "util/strings.hpp"

namespace ses::dkim {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// OpenSSL's default pass phrase callback reads the terminal: a daemon (or
// --check-config) would hang on an encrypted key.  This one refuses, so an
// encrypted key fails to parse instead of prompting.
int refuse_pass_phrase(char*, int, int, void*) { return -1; }

Pkey read_pem(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    Pkey k(PEM_read_bio_PrivateKey(bio, nullptr, refuse_pass_phrase, nullptr));
    BIO_free(bio);
    return k;
}

}  // namespace

bool is_encrypted_pem(std::string_view pem) {
    // PKCS#8 "BEGIN ENCRYPTED PRIVATE KEY" and the traditional
    // "Proc-Type: 4,ENCRYPTED" header of PKCS#1 keys.
    return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
           pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

namespace {

std::string encrypted_message() {
    return "the key is encrypted (protected by a pass phrase); sesmilter never asks for one: "
           "store the key unencrypted, mode 0600 (openssl pkey -in KEY -out PLAIN)";
}

}  // namespace

std::string_view algorithm_name(Algorithm a) {
    return a == Algorithm::ed25519_sha256 ? "ed25519-sha256" : "rsa-sha256";
}

Result<std::string> public_txt(std::string_view pem) {
    if (is_encrypted_pem(pem)) return internal_error(encrypted_message());
    Pkey k = read_pem(pem);
    if (!k) return internal_error("not a PEM private key");
    if (EVP_PKEY_get_base_id(k.get()) == EVP_PKEY_ED25519) {
        unsigned char raw[32];
        size_t len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(k.get(), raw, &len) != 1 || len != 32)
            return internal_error("cannot derive the Ed25519 public key");
        return "v=DKIM1; k=ed25519; p=" + crypto::base64_encode(std::string_view(reinterpret_cast<char*>(raw), len));
    }
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(k.get(), &der);  // SubjectPublicKeyInfo, as RFC 6376 p= wants
    if (len <= 0) return internal_error("cannot encode the public key");
    std::string b64 = crypto::base64_encode(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
    OPENSSL_free(der);
    return "v=DKIM1; k=rsa; p=" + b64;
}

Result<SigningKey> parse_key(std::string_view pem, std::string_view path, int min_rsa_bits) {
    std::string where(path);
    if (is_encrypted_pem(pem)) return internal_error(where + ": " + encrypted_message());
    Pkey k = read_pem(pem);
    if (!k) return internal_error(where + ": not a PEM private key (RSA or Ed25519)");
    SigningKey sk;
    sk.path = where;
    sk.pem = std::string(pem);
    switch (EVP_PKEY_get_base_id(k.get())) {
        case EVP_PKEY_RSA:
            sk.algorithm = Algorithm::rsa_sha256;
            sk.bits = EVP_PKEY_get_bits(k.get());
            if (sk.bits < min_rsa_bits)
                return internal_error(where + ": RSA key has " + std::to_string(sk.bits) +
                                      " bits, fewer than dkim.min_rsa_bits = " + std::to_string(min_rsa_bits));
            break;
        case EVP_PKEY_ED25519:
            sk.algorithm = Algorithm::ed25519_sha256;
            sk.bits = 256;
            break;
        default:
            return internal_error(where + ": unsupported key type (DKIM signs with RSA or Ed25519)");
    }
    auto txt = public_txt(pem);
    if (!txt) return Error{where + ": " + txt.error().what, {}};
    sk.public_txt = *txt;
    return sk;
}

Result<KeyStore> KeyStore::load(const config::Config& cfg) {
    KeyStore ks;
    ks.subdomains_ = cfg.dkim.subdomains;
    for (auto& d : cfg.domains) {
        DomainKeys dk{d.name, {}};
        for (auto& kc : d.dkim) {
            auto internal_error = [&](const std::string& what) {
                return ses::internal_error(cfg.path + ":" + std::to_string(kc.line) + ": " + what);
            };
            struct stat st;
            if (stat(kc.key.c_str(), &st) != 0)
                return internal_error("domain " + d.name + " selector " + kc.selector + ": key " + kc.key + ": " +
                                      std::strerror(errno));
            if (st.st_mode & 077) {
                char mode[8];
                std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
                return internal_error("domain " + d.name + " selector " + kc.selector + ": key " + kc.key +
                                      " has mode " + mode + "; private keys must be 0600 or stricter");
            }
            std::ifstream in(kc.key, std::ios::binary);
            std::stringstream buf;
            buf << in.rdbuf();
            if (!in.good() && !in.eof()) return internal_error("domain " + d.name + ": cannot read key " + kc.key);
            auto key = parse_key(buf.str(), kc.key, cfg.dkim.min_rsa_bits);
            if (!key) return internal_error("domain " + d.name + " selector " + kc.selector + ": " + key.error().what);
            key->selector = kc.selector;
            key->cached = cache_key(key->pem);
            dk.keys.push_back(std::move(*key));
        }
        ks.names_.push_back(dk.domain);
        ks.domains_.push_back(std::move(dk));
    }
    return ks;
}

size_t KeyStore::key_count() const {
    size_t n = 0;
    for (auto& d : domains_) n += d.keys.size();
    return n;
}

int match_domain(const std::vector<std::string>& domains, std::string_view domain, bool subdomains) {
    return mail::covering_domain(domains, domain, subdomains);
}

const DomainKeys* KeyStore::select(std::string_view from_domain, std::string_view sender_domain) const {
    for (std::string_view dom : {from_domain, sender_domain}) {
        if (dom.empty()) continue;
        int i = match_domain(names_, dom, subdomains_);
        if (i >= 0 && !domains_[static_cast<size_t>(i)].keys.empty()) return &domains_[static_cast<size_t>(i)];
    }
    return nullptr;
}

}  // namespace ses::dkim
