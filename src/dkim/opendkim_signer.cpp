// opendkim_signer.cpp -- see opendkim_signer.hpp.
#include "dkim/opendkim_signer.hpp"

#include <cstring>

#include "dkim/handle.hpp"
#include "dkim/opendkim.hpp"

namespace ses::dkim {

struct OpendkimSigner::Lib {
    DKIM_LIB* lib = nullptr;
    // libopendkim keeps pointers into the header lists it is given, so they
    // live as long as the library handle.
    std::vector<std::string> sign_names, oversign_names;
    std::vector<const char*> sign_ptrs, oversign_ptrs;
    ~Lib() {
        if (lib) dkim_close(lib);
    }
};

namespace {

// libopendkim wants a NULL-terminated array of C strings.
Status set_list(DKIM_LIB* lib, int opt, const std::vector<std::string>& names, std::vector<const char*>& v) {
    v.clear();
    for (auto& n : names) v.push_back(n.c_str());
    v.push_back(nullptr);
    // The option value is the array itself; the length is that of a pointer.
    if (dkim_options(lib, DKIM_OP_SETOPT, opt, v.data(), sizeof(char**)) != DKIM_STAT_OK)
        return internal_error("libopendkim refused a header list option");
    return ok_status();
}

// Milter header values use bare LF between folded lines; DKIM hashes the
// message as it travels, with CRLF.  Appended a line at a time: a
// character at a time was ~17 000 instructions per message, as much as
// all of sesmilter's own header checks (docs/PERFORMANCE.md #16).
void append_crlf(std::string& out, std::string_view v) {
    out.reserve(out.size() + v.size() + 8);
    size_t from = 0;
    for (size_t lf = v.find('\n'); lf != std::string_view::npos; lf = v.find('\n', lf + 1)) {
        bool bare = lf == 0 || v[lf - 1] != '\r';
        out.append(v.data() + from, lf - from);
        if (bare) out += '\r';
        from = lf;  // the LF itself goes with the next span
    }
    out.append(v.data() + from, v.size() - from);
}

std::string stat_text(DKIM* d, DKIM_STAT st) {
    const char* e = d ? dkim_geterror(d) : nullptr;
    std::string s = dkim_getresultstr(st);
    if (e && *e) s += std::string(": ") + e;
    return s;
}

}  // namespace

OpendkimSigner::~OpendkimSigner() = default;

void OpendkimSigner::fix_time(uint64_t t) {
    // Tests only, before any signature (the option is library-wide).
    fixed_time_ = t;
    dkim_options(lib_->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &fixed_time_, sizeof fixed_time_);
}

Result<std::unique_ptr<Signer>> OpendkimSigner::create(const config::Config& cfg) {
    std::unique_ptr<OpendkimSigner> s(new OpendkimSigner());
    s->lib_ = std::make_unique<Lib>();
    s->lib_->lib = new_library();
    if (!s->lib_->lib) return internal_error("dkim_init failed");
    s->header_relaxed_ = cfg.dkim.header_relaxed;
    s->body_relaxed_ = cfg.dkim.body_relaxed;
    Lib& l = *s->lib_;
    HeaderLists lists = header_lists(cfg);
    l.sign_names = std::move(lists.sign);
    l.oversign_names = std::move(lists.oversign);
    if (auto st = set_list(l.lib, DKIM_OPTS_SIGNHDRS, l.sign_names, l.sign_ptrs); !st) return st.error();
    if (auto st = set_list(l.lib, DKIM_OPTS_OVERSIGNHDRS, l.oversign_names, l.oversign_ptrs); !st) return st.error();
    return std::unique_ptr<Signer>(std::move(s));
}

Result<std::vector<std::string>> OpendkimSigner::sign(const mail::Message& msg, const DomainKeys& dk) const {
    std::vector<std::string> sigs;
    std::string line;
    const auto hc = header_relaxed_ ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    const auto bc = body_relaxed_ ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    const std::string& id = msg.env.queue_id.empty() ? std::string("sesmilter") : msg.env.queue_id;
    // One handle per key, all fed together: the body is read once (it may
    // be spooled) whatever the number of keys.
    std::vector<std::unique_ptr<SignHandle>> handles;
    for (auto& key : dk.keys) {
        DKIM_STAT st = DKIM_STAT_OK;
        dkim_alg_t alg = key.algorithm == Algorithm::ed25519_sha256 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256;
        auto d = std::make_unique<SignHandle>(lib_->lib, id.c_str(), key.pem.c_str(), key.selector.c_str(),
                                              dk.domain.c_str(), hc, bc, alg, &st);
        if (!d->get())
            return internal_error("dkim_sign(" + dk.domain + ", " + key.selector + "): " + dkim_getresultstr(st));
        for (auto& h : msg.headers()) {
            line.clear();
            line += h.name;
            line += ':';
            append_crlf(line, h.value);
            st = dkim_header(d->get(), reinterpret_cast<u_char*>(line.data()), line.size());
            if (st != DKIM_STAT_OK) return internal_error("dkim_header(" + h.name + "): " + stat_text(d->get(), st));
        }
        if ((st = dkim_eoh(d->get())) != DKIM_STAT_OK) return internal_error("dkim_eoh: " + stat_text(d->get(), st));
        handles.push_back(std::move(d));
    }
    auto fed = msg.read_body([&](std::string_view chunk) -> Status {
        for (auto& d : handles) {
            DKIM_STAT st =
                dkim_body(d->get(), reinterpret_cast<u_char*>(const_cast<char*>(chunk.data())), chunk.size());
            if (st != DKIM_STAT_OK) return internal_error("dkim_body: " + stat_text(d->get(), st));
        }
        return ok_status();
    });
    if (!fed) return fed.error();
    for (size_t i = 0; i < handles.size(); ++i) {
        SignHandle& d = *handles[i];
        const SigningKey& key = dk.keys[i];
        DKIM_STAT st = d.eom();
        if (st != DKIM_STAT_OK)
            return internal_error("signing for " + dk.domain + " with selector " + key.selector + " (" + key.path +
                                  ") failed: " + stat_text(d.get(), st));
        u_char* buf = nullptr;
        size_t len = 0;
        st = dkim_getsighdr_d(d.get(), std::strlen(DKIM_SIGNHEADER) + 2, &buf, &len);
        if (st != DKIM_STAT_OK) return internal_error("dkim_getsighdr_d: " + stat_text(d.get(), st));
        std::string v;
        v.reserve(len);
        for (size_t j = 0; j < len; ++j)
            if (buf[j] != '\r') v += static_cast<char>(buf[j]);
        sigs.push_back(std::move(v));
    }
    return sigs;
}

}  // namespace ses::dkim
