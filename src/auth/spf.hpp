// spf.hpp -- SPF (RFC 7208) checks with libspf2 over sesmilter's resolver.
//
// libspf2 evaluates the records; every DNS question it asks goes through a
// custom libspf2 DNS layer that asks a dns::Lookup (the one resolver), so SPF
// shares the cache and the timeout with DKIM and DMARC.  That layer also
//   - answers type-99 (SPF RR) questions with "no data" without asking: RFC
//     7208 3.1 retired the type and libspf2 would otherwise prefer it;
//   - counts void lookups (nxdomain / nodata answers, not exp= look-ups) and
//     ends the evaluation with permerror at the third (RFC 7208 4.6.4), which
//     libspf2 1.2.10 does not do;
//   - refuses records and explanations that reach CVE-2023-42118
//     (spf_guard.hpp): the result is permerror and the reason says so.
// libspf2's loopback "free ride" (127.0.0.1 passes everything) is not used:
// every address is evaluated as RFC 7208 says.
//
// Errors: the outcome is always a result; DNS trouble is temperror, never
// pass or fail.  libspf2 internal aborts (SPF_error) are turned into
// temperror instead of ending the process.  Thread safety: one Spf may be
// used from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "dns/answer.hpp"

namespace ses::auth {

enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view spf_result_name(SpfResult r);  // RFC 8601 / 7208 names: "pass", "permerror", ...

struct SpfRequest {
    std::string ip;      // client address, IPv4 or IPv6 text
    std::string helo;    // HELO/EHLO name, may be empty
    std::string sender;  // MAIL FROM without <>, "" for the null sender
};

struct SpfOutcome {
    SpfResult result = SpfResult::temperror;
    std::string scope;        // "mailfrom" or "helo"
    std::string identity;     // what was checked: "user@example.com" / "postmaster@helo.example"
    std::string domain;       // the domain whose policy was evaluated
    std::string explanation;  // for fail: the exp= text (or the default)
    std::string comment;      // one line for logs and header comments
    int void_lookups = 0;
    bool refused_record = false;  // the CVE-2023-42118 guard fired
};

class Spf {
public:
    // receiver: our own name, for the %{r} macro and header comments.
    Spf(std::shared_ptr<const dns::Lookup> dns, std::string receiver);
    ~Spf();
    Spf(const Spf&) = delete;
    Spf& operator=(const Spf&) = delete;

    // The MAIL FROM identity (postmaster@HELO for the null sender).
    SpfOutcome check_mailfrom(const SpfRequest& r) const;
    // The HELO identity (RFC 7208 2.3).
    SpfOutcome check_helo(const SpfRequest& r) const;

    // The limit of void lookups (RFC 7208 recommends 2).
    static constexpr int kMaxVoidLookups = 2;
    static constexpr size_t kMaxPtrNames = 10;  // RFC 7208 4.6.4: PTR names checked

    struct Impl;

private:
    SpfOutcome run(const SpfRequest& r, bool helo) const;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ses::auth
