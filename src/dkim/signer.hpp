// signer.hpp -- DKIM signatures (RFC 6376, RFC 8463): the interface.
//
// Two implementations, chosen by `[dkim] signer`: "native"
// (native_signer.hpp: canonicalisation, hashing and the header text in
// sesmilter, the signature with OpenSSL; the default) and "opendkim"
// (opendkim_signer.hpp: libopendkim, kept as the reference the native
// signer is tested against).  Both make one signature per key of the
// chosen domain, each over the message exactly as it will be queued; RSA
// and Ed25519 keys of one domain give a dual signature, the body read once.
// Thread-safe: configured before threads start, sign() keeps no state.
// Errors: a key that cannot sign or a library failure comes back as an
// internal Error (the milter answers on_error, never passes unsigned).
#pragma once

#include <cstdint>
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
    virtual ~Signer() = default;

    // DKIM-Signature values (without the field name), in key order, folded
    // with "\n\t" as libmilter wants header values.
    virtual Result<std::vector<std::string>> sign(const mail::Message& msg, const DomainKeys& keys) const = 0;

    // Tests: every later signature gets t=`t` (0: the clock).  Call before
    // signing starts.
    virtual void fix_time(uint64_t t) = 0;
};

// The signed and oversigned header names from [dkim], with the two
// one-click unsubscribe fields added to both (RFC 8058 section 4 requires
// them in the signature; oversigned, nobody can add a second pair).
struct HeaderLists {
    std::vector<std::string> sign, oversign;
};
HeaderLists header_lists(const config::Config& cfg);

}  // namespace ses::dkim
