// dmarc.hpp -- DMARC (RFC 7489): records, organizational domains, results.
//
// Records are fetched through sesmilter's resolver (never libopendmarc's own
// blocking libresolv look-up) and parsed by libopendmarc
// (opendmarc_policy_store_dmarc).  The organizational domain comes from the
// Public Suffix List through libopendmarc (/usr/share/publicsuffix).  What
// libopendmarc gets wrong is done here instead:
//   - the fallback from _dmarc.<from> to _dmarc.<organizational domain>;
//   - pct= sampling (libopendmarc ignores it): a message outside the sample
//     gets the next milder policy (reject -> quarantine -> none, RFC 7489 6.6.4);
//   - relaxed alignment compares organizational domains (libopendmarc 1.4.2
//     matches suffixes first and aligns d=github.io with victim.github.io).
// The decision itself, evaluate(), is a pure function tested by a table.
//
// Errors: fetch() reports DNS trouble as DmarcResult::temperror.
// Thread safety: Dmarc is safe to share; construct the first one before
// starting threads (it initialises libopendmarc once per process).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/spf.hpp"
#include "dns/answer.hpp"
#include "util/result.hpp"

namespace ses::auth {

enum class DmarcResult { none, pass, fail, temperror, permerror };
std::string_view dmarc_result_name(DmarcResult r);

enum class Policy { none, quarantine, reject };
std::string_view policy_name(Policy p);  // "none", "quarantine", "reject"

struct DmarcRecord {
    std::string domain;     // where it was found (_dmarc.<domain>)
    bool from_org = false;  // found at the organizational domain, not the From domain
    Policy p = Policy::none;
    std::optional<Policy> sp;  // subdomain policy, when given
    bool adkim_strict = false;
    bool aspf_strict = false;
    int pct = 100;
    std::vector<std::string> rua;
    std::string text;  // the record as published
};

struct DmarcLookup {
    DmarcResult status = DmarcResult::none;  // none: no record; pass: found (record set); temperror; permerror
    std::optional<DmarcRecord> record;
    std::string detail;
};

// Identifiers and their results, as the other checks found them.
struct DkimPass {
    std::string domain;  // d= of a signature that verified
};

struct DmarcInput {
    std::string from_domain;  // RFC5322.From domain, lower case
    DmarcLookup lookup;       // what fetch() found
    SpfResult spf = SpfResult::none;
    std::string spf_domain;  // the MAIL FROM domain (or HELO domain for the null sender)
    std::vector<DkimPass> dkim;
    bool dkim_temperror = false;  // some signature could not be checked for a DNS reason
    double sample = 0.0;          // uniform in [0,1): inside pct when sample*100 < pct
};

struct DmarcOutcome {
    DmarcResult result = DmarcResult::none;
    Policy policy = Policy::none;   // the published policy that applies (p or sp)
    Policy applied = Policy::none;  // after pct sampling; none when the result is not fail
    bool spf_aligned = false;
    bool dkim_aligned = false;
    std::string policy_domain;  // where the record was found
    std::string reason;         // one line for logs and header comments
};

using OrgDomainFn = std::function<std::string(std::string_view)>;

// Is `a` aligned with `b` (RFC 7489 3.1)?  strict: equal; relaxed: the same
// organizational domain.  Case-insensitive.
bool aligned(std::string_view a, std::string_view b, bool strict, const OrgDomainFn& org);

// The DMARC decision.  Pure.
DmarcOutcome evaluate(const DmarcInput& in, const OrgDomainFn& org);

class Dmarc {
public:
    // psl: the Public Suffix List file (publicsuffix package).
    Dmarc(std::shared_ptr<const dns::Lookup> dns, std::string psl = "/usr/share/publicsuffix/public_suffix_list.dat");

    // Organizational domain (RFC 7489 3.2) by the Public Suffix List; a
    // domain under no listed suffix uses its last two labels.
    std::string org_domain(std::string_view domain) const;
    OrgDomainFn org_fn() const;

    // _dmarc.<from_domain>, then _dmarc.<organizational domain>.
    DmarcLookup fetch(std::string_view from_domain) const;

    // Parse one record with libopendmarc.  The error names the bad part.
    static Result<DmarcRecord> parse(std::string_view text, std::string_view domain);

private:
    std::shared_ptr<const dns::Lookup> dns_;
};

}  // namespace ses::auth
