// dmarc.cpp -- see dmarc.hpp.
#include <sys/types.h>
extern "C" {
#include <opendmarc/dmarc.h>
// Exported by libopendmarc 1.4.2 but missing from its header.
int opendmarc_get_tld(u_char* domain, u_char* tld, size_t tld_len);
}

#include "auth/dmarc.hpp"

#include <unistd.h>

#include <cstring>
#include <mutex>

#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::auth {

std::string_view dmarc_result_name(DmarcResult r) {
    switch (r) {
        case DmarcResult::none:
            return "none";
        case DmarcResult::pass:
            return "pass";
        case DmarcResult::fail:
            return "fail";
        case DmarcResult::temperror:
            return "temperror";
        case DmarcResult::permerror:
            return "permerror";
    }
    return "none";
}

std::string_view policy_name(Policy p) {
    switch (p) {
        case Policy::none:
            return "none";
        case Policy::quarantine:
            return "quarantine";
        case Policy::reject:
            return "reject";
    }
    return "none";
}

namespace {

std::string norm(std::string_view d) {
    std::string s = str::lower(str::trim(d));
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

Policy milder(Policy p) { return p == Policy::reject ? Policy::quarantine : Policy::none; }

}  // namespace

bool aligned(std::string_view a, std::string_view b, bool strict, const OrgDomainFn& org) {
    std::string x = norm(a), y = norm(b);
    if (x.empty() || y.empty()) return false;
    if (x == y) return true;
    if (strict) return false;
    std::string ox = org(x), oy = org(y);
    return !ox.empty() && ox == oy;
}

DmarcOutcome evaluate(const DmarcInput& in, const OrgDomainFn& org) {
    DmarcOutcome out;
    std::string from = norm(in.from_domain);
    if (from.empty()) {
        out.result = DmarcResult::none;
        out.reason = "no RFC5322.From domain";
        return out;
    }
    switch (in.lookup.status) {
        case DmarcResult::temperror:
            out.result = DmarcResult::temperror;
            out.reason = "DMARC record lookup failed: " + in.lookup.detail;
            return out;
        case DmarcResult::permerror:
            out.result = DmarcResult::permerror;
            out.reason = in.lookup.detail;
            return out;
        case DmarcResult::none:
        case DmarcResult::fail:
            out.result = DmarcResult::none;
            out.reason = in.lookup.detail.empty() ? "no DMARC record" : in.lookup.detail;
            return out;
        case DmarcResult::pass:
            break;
    }
    if (!in.lookup.record) {
        out.result = DmarcResult::none;
        out.reason = "no DMARC record";
        return out;
    }
    const DmarcRecord& r = *in.lookup.record;
    out.policy_domain = r.domain;
    out.policy = (r.from_org && r.sp) ? *r.sp : r.p;

    out.spf_aligned = in.spf == SpfResult::pass && aligned(in.spf_domain, from, r.aspf_strict, org);
    for (auto& d : in.dkim)
        if (aligned(d.domain, from, r.adkim_strict, org)) {
            out.dkim_aligned = true;
            break;
        }
    if (out.spf_aligned || out.dkim_aligned) {
        out.result = DmarcResult::pass;
        out.reason = out.dkim_aligned ? "aligned DKIM pass" : "aligned SPF pass";
        return out;
    }
    // Neither passed; a check that could not run might have.
    if (in.spf == SpfResult::temperror || in.dkim_temperror) {
        out.result = DmarcResult::temperror;
        out.reason = "SPF or DKIM could not be checked (DNS error)";
        return out;
    }
    out.result = DmarcResult::fail;
    bool sampled = in.sample * 100.0 < static_cast<double>(r.pct);
    out.applied = sampled ? out.policy : milder(out.policy);
    out.reason = "no aligned SPF or DKIM pass";
    if (!sampled) out.reason += " (outside pct=" + std::to_string(r.pct) + ")";
    return out;
}

// ---- libopendmarc ---------------------------------------------------------

namespace {

std::once_flag g_init;
bool g_have_psl = false;

void init_library(const std::string& psl) {
    std::call_once(g_init, [&] {
        OPENDMARC_LIB_T lib;
        std::memset(&lib, 0, sizeof lib);
        if (::access(psl.c_str(), R_OK) == 0 && psl.size() < sizeof lib.tld_source_file) {
            lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
            std::memcpy(lib.tld_source_file, psl.c_str(), psl.size() + 1);
            g_have_psl = true;
        } else {
            lib.tld_type = OPENDMARC_TLD_TYPE_NONE;
            log::warn("dmarc: public suffix list " + psl +
                      " not readable (apt-get install publicsuffix); organizational domains use the last two labels");
        }
        if (opendmarc_policy_library_init(&lib) != DMARC_PARSE_OKAY) {
            g_have_psl = false;
            log::warn("dmarc: libopendmarc initialisation failed");
        }
    });
}

Policy to_policy(int c) {
    switch (c) {
        case DMARC_RECORD_P_REJECT:
            return Policy::reject;
        case DMARC_RECORD_P_QUARANTINE:
            return Policy::quarantine;
        default:
            return Policy::none;
    }
}

// "v=DMARC1" first, optional spaces around '=' (RFC 7489 6.4).
bool is_dmarc_record(std::string_view t) {
    t = str::trim(t);
    if (t.empty() || t[0] != 'v') return false;
    size_t i = 1;
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
    if (i >= t.size() || t[i] != '=') return false;
    ++i;
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
    if (t.substr(i, 6) != "DMARC1") return false;
    i += 6;
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
    return i == t.size() || t[i] == ';';
}

}  // namespace

Dmarc::Dmarc(std::shared_ptr<const dns::Lookup> dns, std::string psl) : dns_(std::move(dns)) { init_library(psl); }

std::string Dmarc::org_domain(std::string_view domain) const {
    std::string d = norm(domain);
    if (d.empty() || d.size() > 253) return d;
    std::string org;
    if (g_have_psl) {
        u_char buf[256] = {0};
        if (opendmarc_get_tld(reinterpret_cast<u_char*>(d.data()), buf, sizeof buf) == 0)
            org = reinterpret_cast<char*>(buf);
    }
    if (org.empty()) {
        // No listed suffix: the implicit "*" rule, so the last two labels.
        auto dot = d.rfind('.');
        if (dot == std::string::npos) return d;
        auto dot2 = d.rfind('.', dot - 1);
        org = dot2 == std::string::npos ? d : d.substr(dot2 + 1);
    }
    return org;
}

OrgDomainFn Dmarc::org_fn() const {
    return [this](std::string_view d) { return org_domain(d); };
}

Result<DmarcRecord> Dmarc::parse(std::string_view text, std::string_view domain) {
    if (!is_dmarc_record(text)) return internal_error("not a DMARC record (it must begin with v=DMARC1)");
    std::string t(text), d = norm(domain);
    DMARC_POLICY_T* p = opendmarc_policy_connect_init(reinterpret_cast<u_char*>(const_cast<char*>("192.0.2.1")),
                                                      DMARC_POLICY_IP_TYPE_IPV4);
    if (!p) return internal_error("libopendmarc: out of memory");
    OPENDMARC_STATUS_T st = opendmarc_policy_store_dmarc(p, reinterpret_cast<u_char*>(t.data()),
                                                         reinterpret_cast<u_char*>(d.data()), nullptr);
    if (st != DMARC_PARSE_OKAY) {
        std::string why = opendmarc_policy_status_to_str(st);
        opendmarc_policy_connect_shutdown(p);
        return internal_error(why);
    }
    DmarcRecord r;
    r.domain = d;
    r.text = t;
    int v = 0;
    opendmarc_policy_fetch_p(p, &v);
    r.p = to_policy(v);
    v = 0;
    opendmarc_policy_fetch_sp(p, &v);
    if (v) r.sp = to_policy(v);
    v = 0;
    opendmarc_policy_fetch_adkim(p, &v);
    r.adkim_strict = v == DMARC_RECORD_A_STRICT;
    v = 0;
    opendmarc_policy_fetch_aspf(p, &v);
    r.aspf_strict = v == DMARC_RECORD_A_STRICT;
    v = 100;
    opendmarc_policy_fetch_pct(p, &v);
    r.pct = (v < 0 || v > 100) ? 100 : v;
    if (u_char** rua = opendmarc_policy_fetch_rua(p, nullptr, 0, 1))
        for (int i = 0; rua[i]; ++i) r.rua.emplace_back(reinterpret_cast<char*>(rua[i]));
    opendmarc_policy_connect_shutdown(p);
    return r;
}

DmarcLookup Dmarc::fetch(std::string_view from_domain) const {
    DmarcLookup out;
    std::string from = norm(from_domain);
    if (from.empty()) {
        out.detail = "no From domain";
        return out;
    }
    std::string org = org_domain(from);
    for (int step = 0; step < 2; ++step) {
        std::string dom = step == 0 ? from : org;
        if (step == 1 && dom == from) break;
        dns::Answer a = dns_->txt("_dmarc." + dom);
        if (a.rcode == dns::Rcode::temperror) {
            out.status = DmarcResult::temperror;
            out.detail = "_dmarc." + dom + ": " + a.why;
            return out;
        }
        std::vector<std::string> recs;
        for (auto& v : a.values)
            if (is_dmarc_record(v)) recs.push_back(v);
        if (recs.empty()) continue;
        if (recs.size() > 1) {
            // RFC 7489 6.6.3: several records end policy discovery.
            out.status = DmarcResult::none;
            out.detail = "several DMARC records at _dmarc." + dom;
            return out;
        }
        auto r = parse(recs[0], dom);
        if (!r) {
            out.status = DmarcResult::permerror;
            out.detail = "_dmarc." + dom + ": " + r.error().what;
            return out;
        }
        r->from_org = step == 1;
        out.status = DmarcResult::pass;
        out.record = std::move(*r);
        return out;
    }
    out.status = DmarcResult::none;
    out.detail = "no DMARC record for " + from;
    return out;
}

}  // namespace ses::auth
