// verifier.hpp -- DKIM signature verification (RFC 6376) with libopendkim.
//
// Every DKIM-Signature of a message is checked; each gets one RFC 8601
// result:
//   pass       signature and body hash verify
//   fail       the signature or the body hash does not verify (tampered)
//   permerror  no key in DNS (NXDOMAIN / no TXT), a revoked or undecodable
//              key, or a signature that cannot be processed (RFC 6376 6.1.2:
//              PERMFAIL)
//   neutral    a signature with syntax errors
//   policy     verifies but is not acceptable here (key under min_key_bits)
//   temperror  the key could not be fetched (DNS timeout, SERVFAIL)
// No DKIM-Signature at all is reported as an empty list (dkim=none).
//
// Keys are fetched through sesmilter's resolver: libopendkim's DNS hooks are
// wired to a dns::Lookup, which hands back the whole wire-format reply.
//
// Errors: verify() always returns an outcome; an internal libopendkim
// failure is a temperror for every signature.  Thread safety: one Verifier
// may be shared by all threads (one DKIM_LIB; one DKIM handle per call).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/answer.hpp"
#include "mail/message.hpp"

namespace ses::dkim {

struct SignatureResult {
    std::string domain;     // d=
    std::string selector;   // s=
    std::string result;     // "pass", "fail", "permerror", "neutral", "policy", "temperror"
    std::string reason;     // short text: "body hash mismatch", "no key for signature", ...
    std::string header_b;   // the first 12 characters of b= (RFC 6008 header.b)
    std::string algorithm;  // "rsa-sha256", "ed25519-sha256"
    unsigned key_bits = 0;
};

struct VerifyOutcome {
    std::vector<SignatureResult> signatures;  // empty: the message is not signed
    std::string error;                        // libopendkim failure, if any

    bool any_pass() const;
    bool any_temperror() const;
};

struct VerifierOptions {
    unsigned min_key_bits = 1024;  // smaller RSA keys give "policy"
    int64_t timeout = 5;           // seconds, passed to libopendkim
};

class Verifier {
public:
    explicit Verifier(std::shared_ptr<const dns::Lookup> dns, VerifierOptions opt = {});
    ~Verifier();
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;

    VerifyOutcome verify(const mail::Message& m) const;
    // headers as the milter received them; body with CRLF line ends.
    VerifyOutcome verify(const std::vector<mail::Header>& headers, std::string_view body) const;
    VerifyOutcome verify(const std::vector<mail::Header>& headers, const mail::Body& body) const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace ses::dkim
