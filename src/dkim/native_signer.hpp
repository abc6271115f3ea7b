// native_signer.hpp -- DKIM signing without libopendkim (`[dkim] signer =
// "native"`, the default).
//
// canon.hpp canonicalises, OpenSSL hashes (SHA-256) and signs with the key
// parsed once at load (key_cache.hpp): RSA with PKCS#1 v1.5
// (rsa-sha256), Ed25519 with PureEdDSA over the SHA-256 digest of the
// header data (ed25519-sha256, RFC 8463).  The body is read once per
// message and hashed once per body canonicalisation, whatever the number of
// keys.  The header text follows libopendkim's tag order and folding so
// that both give the same bytes (tests/unit/dkim_test.cpp, "native
// signatures are byte-identical to libopendkim's").
// Thread safety and errors: as Signer; every OpenSSL failure is an
// internal Error.
#pragma once

#include "dkim/canon.hpp"
#include "dkim/signer.hpp"

namespace ses::dkim {

class NativeSigner final : public Signer {
public:
    static Result<std::unique_ptr<Signer>> create(const config::Config& cfg);

    Result<std::vector<std::string>> sign(const mail::Message& msg, const DomainKeys& keys) const override;
    void fix_time(uint64_t t) override { fixed_time_ = t; }

private:
    NativeSigner() = default;
    Canon header_ = Canon::relaxed;
    Canon body_ = Canon::relaxed;
    HeaderLists lists_;
    uint64_t fixed_time_ = 0;
};

// The DKIM-Signature value folded as libopendkim folds it (lines of at most
// 75 columns counting "DKIM-Signature: " and a tab as 8, "\r\n\t" between
// lines; h= breaks after a colon, b= anywhere), ending with "b=" followed by
// `b64sig` (empty while the header is hashed).  Exposed for tests.
std::string signature_text(std::string_view alg, Canon hc, Canon bc, std::string_view domain, std::string_view selector,
                           uint64_t t, std::string_view bh, const std::vector<std::string>& h, std::string_view b64sig);

}  // namespace ses::dkim
