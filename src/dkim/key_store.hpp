// key_store.hpp -- the DKIM private keys of every configured domain.
//
// Loaded once at start and again on SIGHUP, never per message.  load()
// checks each key file the way an operator would want to hear about it at
// start-up rather than at the first message: it exists, is mode 0600 or
// stricter, parses as a PEM RSA or Ed25519 private key, and RSA keys have at
// least `dkim.min_rsa_bits`.  Encrypted keys are refused (no pass phrase
// prompt, see is_encrypted_pem).  A KeyStore is immutable after load and shared
// by all worker threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace ses::dkim {

enum class Algorithm { rsa_sha256, ed25519_sha256 };
std::string_view algorithm_name(Algorithm a);  // "rsa-sha256" / "ed25519-sha256"

struct SigningKey {
    std::string selector;
    std::string path;
    Algorithm algorithm;
    int bits = 0;                  // RSA modulus size; 256 for Ed25519
    std::string pem;               // the file's text; libopendkim wants it NUL-terminated (std::string is)
    std::string public_txt;        // the DNS TXT record value that publishes this key
    std::shared_ptr<void> cached;  // keeps the parsed key registered (key_cache.hpp)
};

struct DomainKeys {
    std::string domain;
    std::vector<SigningKey> keys;
};

class KeyStore {
public:
    static Result<KeyStore> load(const config::Config& cfg);

    // The keys for a message: the From: header domain first, then the
    // envelope sender's domain; exact match, else (with `subdomains`) the
    // longest configured parent domain.  nullptr: no key, sign nothing.
    const DomainKeys* select(std::string_view from_domain, std::string_view sender_domain) const;

    const std::vector<DomainKeys>& domains() const { return domains_; }
    size_t key_count() const;

private:
    std::vector<DomainKeys> domains_;
    std::vector<std::string> names_;  // domains_[i].domain, for match_domain
    bool subdomains_ = true;
};

// Pure: index into `domains` of the best match for `domain`, or -1
// (mail::covering_domain, the one resolver).
int match_domain(const std::vector<std::string>& domains, std::string_view domain, bool subdomains);

// True when the PEM text is an encrypted private key (PKCS#8 or PKCS#1
// with Proc-Type).  Such keys are refused with a clear message, never
// prompted for: parsing never reads a pass phrase from the terminal.
bool is_encrypted_pem(std::string_view pem);

// Parse and check one PEM private key (used by load and by tests).
Result<SigningKey> parse_key(std::string_view pem, std::string_view path, int min_rsa_bits);

// The TXT record value publishing a private key's public half:
// "v=DKIM1; k=rsa; p=MIIB..." or "v=DKIM1; k=ed25519; p=<32 bytes b64>".
Result<std::string> public_txt(std::string_view pem);

}  // namespace ses::dkim
