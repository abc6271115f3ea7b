// opendkim_signer.hpp -- the libopendkim signer (`[dkim] signer =
// "opendkim"`).
//
// The reference implementation: one DKIM_LIB configured from [dkim] (signed
// and oversigned header lists), one handle per key and message, fed the
// headers and the body once.  The native signer is compared with it byte
// for byte in the unit tests.  It costs ~280 000 instructions per message
// beyond the signature (docs/PERFORMANCE.md #16), which is why it is not
// the default.  Relies on the key cache (key_cache.hpp) and the Ed25519
// leak work-around (handle.hpp).  Thread safety and errors: as Signer.
#pragma once

#include "dkim/signer.hpp"

namespace ses::dkim {

class OpendkimSigner final : public Signer {
public:
    static Result<std::unique_ptr<Signer>> create(const config::Config& cfg);
    ~OpendkimSigner() override;
    OpendkimSigner(const OpendkimSigner&) = delete;
    OpendkimSigner& operator=(const OpendkimSigner&) = delete;

    Result<std::vector<std::string>> sign(const mail::Message& msg, const DomainKeys& keys) const override;
    void fix_time(uint64_t t) override;

private:
    OpendkimSigner() = default;
    struct Lib;
    std::unique_ptr<Lib> lib_;
    bool header_relaxed_ = true;
    bool body_relaxed_ = true;
    uint64_t fixed_time_ = 0;
};

}  // namespace ses::dkim
