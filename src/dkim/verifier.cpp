// verifier.cpp -- see verifier.hpp.
#include "dkim/verifier.hpp"

#include <atomic>
#include <cstring>

#include "dkim/opendkim.hpp"
#include "util/log.hpp"

namespace ses::dkim {

bool VerifyOutcome::any_pass() const {
    for (auto& s : signatures)
        if (s.result == "pass") return true;
    return false;
}

bool VerifyOutcome::any_temperror() const {
    for (auto& s : signatures)
        if (s.result == "temperror") return true;
    return !error.empty();
}

namespace {

// ---- DNS hooks: libopendkim asks, the dns::Lookup answers ---------------

struct Query {
    int status = DKIM_DNS_ERROR;
    size_t len = 0;
    int dnssec = DKIM_DNSSEC_UNKNOWN;
};

// Runs the question at once and writes the whole wire-format reply into buf
// (libopendkim parses it with dn_expand).  A temperror has no usable reply:
// waitreply says EXPIRED and libopendkim reports KEYFAIL (temperror).
int hook_start(void* srv, int type, unsigned char* query, unsigned char* buf, size_t buflen, void** qh) {
    auto* dns = static_cast<const ses::dns::Lookup*>(srv);
    auto* q = new Query;
    *qh = q;
    try {
        ses::dns::Answer a = dns->query(reinterpret_cast<const char*>(query), static_cast<uint16_t>(type));
        if (a.rcode != ses::dns::Rcode::temperror && !a.packet.empty() && a.packet.size() <= buflen) {
            std::memcpy(buf, a.packet.data(), a.packet.size());
            q->len = a.packet.size();
            q->status = DKIM_DNS_SUCCESS;
            q->dnssec = a.secure ? DKIM_DNSSEC_SECURE : DKIM_DNSSEC_INSECURE;
        } else {
            q->status = DKIM_DNS_EXPIRED;
            log::debug(std::string("dkim: key query ") + reinterpret_cast<const char*>(query) + ": " +
                       (a.why.empty() ? std::string(ses::dns::rcode_name(a.rcode)) : a.why));
        }
    } catch (const std::exception& e) {
        q->status = DKIM_DNS_ERROR;
    }
    return 0;
}

int hook_wait(void*, void* qh, struct timeval*, size_t* bytes, int* error, int* dnssec) {
    auto* q = static_cast<Query*>(qh);
    if (!q) return DKIM_DNS_ERROR;
    if (bytes) *bytes = q->len;
    if (error) *error = 0;
    if (dnssec) *dnssec = q->dnssec;
    return q->status;
}

int hook_cancel(void*, void* qh) {
    delete static_cast<Query*>(qh);
    return 0;
}

std::string result_for(DKIM_SIGINFO* sig, unsigned min_bits, std::string& reason) {
    unsigned flags = dkim_sig_getflags(sig);
    int err = dkim_sig_geterror(sig);
    if (DKIM_SIG_CHECK(sig)) {
        unsigned bits = 0;
        dkim_sig_getkeysize(sig, &bits);
        dkim_alg_t alg;
        bool rsa = dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK && alg != DKIM_SIGN_ED25519SHA256;
        if (rsa && bits > 0 && bits < min_bits) {
            reason = "key of " + std::to_string(bits) + " bits is too small";
            return "policy";
        }
        return "pass";
    }
    if ((flags & DKIM_SIGFLAG_PROCESSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH &&
        (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG)) {
        reason = "body hash did not verify";
        return "fail";
    }
    const char* es = dkim_sig_geterrorstr(err);
    reason = es ? es : "unknown error";
    switch (err) {
        case DKIM_SIGERROR_KEYFAIL:
            reason = "key query failed";
            return "temperror";
        case DKIM_SIGERROR_NOKEY:
            reason = "no key for signature";
            return "permerror";
        case DKIM_SIGERROR_KEYREVOKED:
        case DKIM_SIGERROR_KEYDECODE:
        case DKIM_SIGERROR_DNSSYNTAX:
        case DKIM_SIGERROR_MULTIREPLY:
        case DKIM_SIGERROR_KEYVERSION:
        case DKIM_SIGERROR_KEYUNKNOWNHASH:
        case DKIM_SIGERROR_KEYHASHMISMATCH:
        case DKIM_SIGERROR_NOTEMAILKEY:
        case DKIM_SIGERROR_KEYTYPEMISSING:
        case DKIM_SIGERROR_KEYTYPEUNKNOWN:
        case DKIM_SIGERROR_SUBDOMAIN:
        case DKIM_SIGERROR_EXPIRED:
        case DKIM_SIGERROR_FUTURE:
        case DKIM_SIGERROR_TOOLARGE_L:
            return "permerror";
        case DKIM_SIGERROR_KEYTOOSMALL:
            return "policy";
        case DKIM_SIGERROR_BADSIG:
            reason = "signature did not verify";
            return "fail";
        case DKIM_SIGERROR_OK:
            break;
        default:
            // v=, a=, c=, d=, s=, b=, bh=, h= missing, empty or corrupt.
            if (err > 0) return "neutral";
            break;
    }
    if (flags & DKIM_SIGFLAG_PROCESSED) {
        reason = "signature did not verify";
        return "fail";
    }
    reason = "signature not processed";
    return "permerror";
}

std::string crlf(std::string_view v) {
    // Header folds arrive as "\n" from the milter; libopendkim wants CRLF.
    std::string out;
    out.reserve(v.size() + 8);
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r')) out += '\r';
        out += v[i];
    }
    return out;
}

std::atomic<unsigned long> g_seq{0};

}  // namespace

struct Verifier::Impl {
    std::shared_ptr<const dns::Lookup> dns;
    VerifierOptions opt;
    DKIM_LIB* lib = nullptr;
};

Verifier::Verifier(std::shared_ptr<const dns::Lookup> dns, VerifierOptions opt) : impl_(std::make_unique<Impl>()) {
    impl_->dns = std::move(dns);
    impl_->opt = opt;
    impl_->lib = dkim_init(nullptr, nullptr);
    if (!impl_->lib) throw std::runtime_error("dkim: dkim_init failed");
    unsigned flags = DKIM_LIBFLAGS_BADSIGHANDLES;
    dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
    unsigned timeout = static_cast<unsigned>(opt.timeout > 0 ? opt.timeout : 5);
    dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &timeout, sizeof timeout);
    // Small keys are judged by result_for ("policy"), not refused unseen.
    unsigned minbits = 512;
    dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits, sizeof minbits);
    dkim_dns_set_query_service(impl_->lib, const_cast<dns::Lookup*>(impl_->dns.get()));
    dkim_dns_set_query_start(impl_->lib, hook_start);
    dkim_dns_set_query_waitreply(impl_->lib, hook_wait);
    dkim_dns_set_query_cancel(impl_->lib, hook_cancel);
    dkim_dns_set_init(impl_->lib, nullptr);
    dkim_dns_set_close(impl_->lib, nullptr);  // the service is ours, not a res_state
}

Verifier::~Verifier() {
    if (impl_ && impl_->lib) dkim_close(impl_->lib);
}

VerifyOutcome Verifier::verify(const mail::Message& m) const { return verify(m.headers(), m.body_data()); }

VerifyOutcome Verifier::verify(const std::vector<mail::Header>& headers, std::string_view body) const {
    mail::Body b;
    b.assign(std::string(body));
    return verify(headers, b);
}

VerifyOutcome Verifier::verify(const std::vector<mail::Header>& headers, const mail::Body& body) const {
    VerifyOutcome out;
    DKIM_STAT st = DKIM_STAT_OK;
    std::string id = "v" + std::to_string(++g_seq);
    DKIM* d = dkim_verify(impl_->lib, reinterpret_cast<const unsigned char*>(id.c_str()), nullptr, &st);
    if (!d) {
        out.error = "dkim_verify failed";
        return out;
    }
    bool signed_msg = false;
    for (auto& h : headers) {
        std::string line = h.name + ":";
        if (!h.value.empty() && h.value[0] != ' ' && h.value[0] != '\t') line += ' ';
        line += crlf(h.value);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        if (strcasecmp(h.name.c_str(), "DKIM-Signature") == 0) signed_msg = true;
        st = dkim_header(d, reinterpret_cast<unsigned char*>(line.data()), line.size());
        if (st != DKIM_STAT_OK) break;
    }
    if (!signed_msg) {
        dkim_free(d);
        return out;
    }
    st = dkim_eoh(d);
    if (st == DKIM_STAT_OK || st == DKIM_STAT_NOKEY || st == DKIM_STAT_KEYFAIL || st == DKIM_STAT_CANTVRFY ||
        st == DKIM_STAT_SYNTAX || st == DKIM_STAT_REVOKED) {
        // Streamed in chunks (a spooled body is never held whole).  A
        // spool read error leaves the body hash short: the signature fails
        // closed and the error is reported.
        auto read = body.read([&](std::string_view c) {
            dkim_body(d, reinterpret_cast<unsigned char*>(const_cast<char*>(c.data())), c.size());
            return ok_status();
        });
        if (!read) out.error = read.error().what;
        bool testkey = false;
        dkim_eom(d, &testkey);
    }
    DKIM_SIGINFO** sigs = nullptr;
    int n = 0;
    if (dkim_getsiglist(d, &sigs, &n) == DKIM_STAT_OK) {
        for (int i = 0; i < n; ++i) {
            DKIM_SIGINFO* sig = sigs[i];
            SignatureResult r;
            if (auto* dom = dkim_sig_getdomain(sig)) r.domain = reinterpret_cast<char*>(dom);
            if (auto* sel = dkim_sig_getselector(sig)) r.selector = reinterpret_cast<char*>(sel);
            if (auto* b = dkim_sig_gettagvalue(sig, false, reinterpret_cast<unsigned char*>(const_cast<char*>("b")))) {
                std::string bv;
                for (const unsigned char* p = b; *p && bv.size() < 12; ++p)
                    if (!isspace(*p)) bv += static_cast<char>(*p);
                r.header_b = bv;
            }
            if (auto* a = dkim_sig_gettagvalue(sig, false, reinterpret_cast<unsigned char*>(const_cast<char*>("a"))))
                r.algorithm = reinterpret_cast<char*>(a);
            dkim_sig_getkeysize(sig, &r.key_bits);
            r.result = result_for(sig, impl_->opt.min_key_bits, r.reason);
            out.signatures.push_back(std::move(r));
        }
    } else if (st != DKIM_STAT_NOSIG) {
        out.error = std::string("libopendkim: ") + dkim_getresultstr(st);
    }
    dkim_free(d);
    return out;
}

}  // namespace ses::dkim
