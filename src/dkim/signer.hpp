// signer.hpp -- DKIM signatures with libopendkim (RFC 6376, RFC 8463).
//
// A Signer owns one DKIM_LIB configured from [dkim] (signed and oversigned
// header lists).  sign() makes one signature per key of the chosen domain,
// each over the message exactly as it will be queued; RSA and Ed25519 keys
// of one domain give a dual signature.  Thread-safe: the library handle is
// configured before threads start and each call uses its own DKIM handles.
// Errors: a key libopendkim cannot use or a library failure comes back as
// an internal Error (the milter answers on_error, never passes unsigned).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dkim/key_store.hpp"
#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::dkim {

class Signer {
public:
    static Result<std::unique_ptr<Signer>> create(const config::Config& cfg);
    ~Signer();
    Signer(const Signer&) = delete;
    Signer& operator=(const Signer&) = delete;

    // DKIM-Signature values (without the field name), in key order, folded
    // with "\n\t" as libmilter wants header values.
    Result<std::vector<std::string>> sign(const mail::Message& msg, const DomainKeys& keys) const;

private:
    Signer() = default;
    struct Lib;
    std::unique_ptr<Lib> lib_;
    bool header_relaxed_ = true;
    bool body_relaxed_ = true;
};

}  // namespace ses::dkim
