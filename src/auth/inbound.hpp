// inbound.hpp -- verification of inbound mail: DKIM, SPF, DMARC and the
// Authentication-Results header.
//
// For mail that is not outbound (auth/outbound.hpp) and with [verify]
// enabled, the stage
//   1. removes every Authentication-Results header that carries our
//      authserv-id (nobody else may speak for us; RFC 8601 5);
//   2. verifies every DKIM signature, SPF for the client address with the
//      MAIL FROM identity (the HELO identity for the null sender), and DMARC
//      for the From: domain from those results;
//   3. adds one Authentication-Results header at the top;
//   4. acts: a DNS failure (any temperror) answers 451 4.4.3 when
//      tempfail_on_dns_error (the default), so the sender retries rather than
//      the mail being judged on missing data; a DMARC failure under p=reject
//      answers 550 5.7.1 with dmarc_reject; p=quarantine (or p=reject without
//      dmarc_reject) holds the message with dmarc_quarantine.  By default the
//      stage only annotates.
// decide_action() is the pure part, tested by a table.
//
// Thread safety: an Inbound is immutable and shared by all worker threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/authentication_results.hpp"
#include "auth/dmarc.hpp"
#include "auth/settings.hpp"
#include "auth/spf.hpp"
#include "dkim/verifier.hpp"
#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::auth {

struct InboundReport {
    dkim::VerifyOutcome dkim;
    SpfOutcome spf;  // MAIL FROM identity, or HELO for the null sender
    std::vector<std::string> from_addresses;
    std::string from_domain;
    DmarcOutcome dmarc;
    std::vector<MethodResult> results;  // what the header says, in order
    std::string header;                 // the Authentication-Results value
};

struct Action {
    enum class Kind { annotate, tempfail, reject, quarantine };
    Kind kind = Kind::annotate;
    Reply reply;         // tempfail / reject
    std::string reason;  // quarantine reason, log text
};

// What to do with a verified message.  Pure.
Action decide_action(const InboundReport& r, const VerifySettings& s);

// The method results for the header.  Pure.
std::vector<MethodResult> method_results(const InboundReport& r);

class Inbound {
public:
    // authserv_id "" = this host's name.  sample() returns a uniform number
    // in [0,1) for DMARC pct sampling (default: a per-thread generator).
    Inbound(VerifySettings settings, std::shared_ptr<const Spf> spf, std::shared_ptr<const dkim::Verifier> dkim,
            std::shared_ptr<const Dmarc> dmarc, std::function<double()> sample = {});

    // Runs every check; no edits.  stop_on_temperror: once a check fails
    // for a DNS reason the rest are skipped (the message will be answered
    // 451 anyway; with the DNS down each further check would wait for the
    // full timeout).
    InboundReport verify(const mail::Message& m, bool stop_on_temperror = false) const;

    // The pipeline stage: verify, remove forged headers, add ours, act.
    // The results summary ("verify: ...") is appended to *log, a field of
    // the message's one log line; this stage writes no line of its own.
    Status run(mail::Message& m, std::string* log = nullptr) const;

    const std::string& authserv_id() const { return authserv_id_; }

private:
    VerifySettings s_;
    std::string authserv_id_;
    std::shared_ptr<const Spf> spf_;
    std::shared_ptr<const dkim::Verifier> dkim_;
    std::shared_ptr<const Dmarc> dmarc_;
    std::function<double()> sample_;
};

// The local host name (for the default authserv-id and SPF's %{r}).
std::string host_name();

}  // namespace ses::auth
