// keygen.cpp -- see keygen.hpp.
#include "dkim/keygen.hpp"

#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace ses::dkim {

Result<NewKey> generate_key(const std::string& algorithm, int bits) {
    EVP_PKEY* key = nullptr;
    if (algorithm == "rsa") {
        if (bits < 1024 || bits > 8192) return internal_error("--bits must be between 1024 and 8192");
        key = EVP_RSA_gen(static_cast<unsigned>(bits));
    } else if (algorithm == "ed25519") {
        key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    } else {
        return internal_error("unknown algorithm \"" + algorithm + "\" (rsa or ed25519)");
    }
    if (!key) return internal_error("key generation failed");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(key, EVP_PKEY_free);
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        BIO_free(bio);
        return internal_error("cannot encode the private key");
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    NewKey nk;
    nk.pem.assign(data, static_cast<size_t>(len));
    BIO_free(bio);
    auto txt = public_txt(nk.pem);
    if (!txt) return txt.error();
    nk.txt = *txt;
    return nk;
}

std::vector<std::string> txt_strings(const std::string& txt) {
    std::vector<std::string> out;
    for (size_t off = 0; off < txt.size(); off += 255) out.push_back(txt.substr(off, 255));
    return out;
}

std::string zone_line(const std::string& selector, const std::string& domain, const std::string& txt) {
    std::string line = selector + "._domainkey." + domain + ". IN TXT (";
    for (auto& s : txt_strings(txt)) line += " \"" + s + "\"";
    line += " )";
    return line;
}

}  // namespace ses::dkim
