// spf.cpp -- see spf.hpp.
//
// libspf2 is C without extern "C" and needs the socket headers first.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
extern "C" {
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_rr.h>
}

#include "auth/spf.hpp"

#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>

#include "auth/spf_guard.hpp"
#include "auth/spf_record.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::auth {

std::string_view spf_result_name(SpfResult r) {
    switch (r) {
        case SpfResult::none:
            return "none";
        case SpfResult::neutral:
            return "neutral";
        case SpfResult::pass:
            return "pass";
        case SpfResult::fail:
            return "fail";
        case SpfResult::softfail:
            return "softfail";
        case SpfResult::temperror:
            return "temperror";
        case SpfResult::permerror:
            return "permerror";
    }
    return "temperror";
}

namespace {

// ---- libspf2's abort() paths become exceptions -------------------------

struct SpfAbort : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// SPF_error / SPF_ASSERT_NOTNULL call this instead of abort().  libspf2 is
// built with unwind tables, so the exception crosses its C frames (leaking
// what they hold) and reaches Spf::run, which answers temperror.
// The GNU attribute (not [[noreturn]]) makes noreturn part of the type, as
// libspf2's handler pointer declares it; clang checks that.
__attribute__((noreturn)) void on_spf_error(const char* file, int line, const char* msg) {
    throw SpfAbort(std::string("libspf2: ") + (msg ? msg : "?") + " (" + (file ? file : "?") + ":" +
                   std::to_string(line) + ")");
}
void on_spf_warning(const char*, int, const char* msg) { log::debug(std::string("libspf2: ") + (msg ? msg : "")); }
void on_spf_quiet(const char*, int, const char*) {}

void install_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        SPF_error_handler = on_spf_error;
        SPF_warning_handler = on_spf_warning;
        SPF_info_handler = on_spf_quiet;
        SPF_debug_handler = on_spf_quiet;
    });
}

// ---- per-request state, seen by the DNS layer ----------------------------

struct RequestState {
    SPF_request_t* req = nullptr;
    bool client_ipv6 = false;
    int void_lookups = 0;
    bool void_exceeded = false;
    int terms = 0;  // DNS-querying terms evaluated (RFC 7208 4.6.4)
    bool terms_exceeded = false;
    bool first_record = true;         // the next TXT question is the top-level record
    std::set<std::string> sub_names;  // MX / PTR targets: their address look-ups are not terms
    std::string refused;              // CVE guard reason for a refused record
    std::string syntax;               // RFC 7208 grammar error of a record
    std::string dns_error;            // last temperror

    bool stopped() const { return void_exceeded || terms_exceeded || !refused.empty() || !syntax.empty(); }
};

// The layer is called synchronously inside one SPF evaluation on the
// calling thread, so the state of "the evaluation running on this thread"
// is enough to tell requests apart.
thread_local RequestState* t_state = nullptr;

struct StateScope {
    RequestState* prev;
    explicit StateScope(RequestState* s) : prev(t_state) { t_state = s; }
    ~StateScope() { t_state = prev; }
};

int herrno_of(dns::Rcode r) {
    switch (r) {
        case dns::Rcode::ok:
            return NETDB_SUCCESS;
        case dns::Rcode::nxdomain:
            return HOST_NOT_FOUND;
        case dns::Rcode::nodata:
            return NO_DATA;
        case dns::Rcode::temperror:
            return TRY_AGAIN;
    }
    return TRY_AGAIN;
}

SPF_dns_rr_t* make_rr(SPF_dns_server_t* srv, const char* domain, ns_type type, int herrno) {
    SPF_dns_rr_t* rr = SPF_dns_rr_new_init(srv, domain, type, 0, herrno);
    if (!rr) throw SpfAbort("libspf2: out of memory");
    return rr;
}

// Copy a text value (TXT, MX or PTR target) into record slot i.  NUL bytes
// would silently cut a C string short; make them visible instead.
bool put_text(SPF_dns_rr_t* rr, int i, std::string v) {
    for (char& c : v)
        if (c == '\0') c = '?';
    if (SPF_dns_rr_buf_realloc(rr, i, v.size() + 1) != SPF_E_SUCCESS) return false;
    std::memcpy(rr->rr[i]->txt, v.c_str(), v.size() + 1);
    return true;
}

// ---- the DNS layer ------------------------------------------------------

SPF_dns_rr_t* layer_lookup(SPF_dns_server_t* srv, const char* domain, ns_type type, int /*should_cache*/);
SPF_errcode_t layer_get_exp(SPF_server_t* server, const char* domain, char** bufp, size_t* buflenp);

}  // namespace

struct Spf::Impl {
    std::shared_ptr<const dns::Lookup> dns;
    std::string receiver;
    SPF_dns_server_t layer{};
    SPF_server_t* server = nullptr;
};

namespace {

std::string key_of(std::string_view name) {
    std::string k = str::lower(name);
    if (!k.empty() && k.back() == '.') k.pop_back();
    return k;
}

dns::Answer ask(const Spf::Impl* impl, const std::string& name, uint16_t type) {
    try {
        return impl->dns->query(name, type);
    } catch (const std::exception& e) {
        dns::Answer a;
        a.rcode = dns::Rcode::temperror;
        a.why = e.what();
        return a;
    }
}

// exists:<domain>.<kind><suffix>, written by spf_record::normalize for a
// zero CIDR length: does <domain> have any address (through its MX hosts
// for mx)?  Answers one A record for yes, no data for no.
dns::Answer marker_answer(const Spf::Impl* impl, const spf_record::Marker& m) {
    bool v6 = m.kind.back() == '6';
    uint16_t addr_type = v6 ? dns::rr::AAAA : dns::rr::A;
    dns::Answer out;
    out.rcode = dns::Rcode::nodata;
    std::vector<std::string> hosts;
    if (m.kind.rfind("mx", 0) == 0) {
        dns::Answer mx = ask(impl, m.domain, dns::rr::MX);
        if (mx.rcode == dns::Rcode::temperror) return mx;
        hosts = mx.values;
        if (hosts.size() > 10) hosts.resize(10);
    } else {
        hosts.push_back(m.domain);
    }
    for (auto& h : hosts) {
        dns::Answer a = ask(impl, h, addr_type);
        if (a.rcode == dns::Rcode::temperror) return a;
        if (a.ok()) {
            out.rcode = dns::Rcode::ok;
            out.values = {"127.0.0.2"};
            return out;
        }
    }
    return out;
}

SPF_dns_rr_t* layer_lookup(SPF_dns_server_t* srv, const char* domain, ns_type type, int) {
    auto* impl = static_cast<Spf::Impl*>(srv->hook);
    RequestState* st = t_state;
    // RFC 7208 7.3: overlong expanded names lose labels on the left.
    std::string name = spf_record::truncate_name(domain ? domain : "");
    const char* dom = name.c_str();
    if (st && st->stopped()) return make_rr(srv, dom, type, TRY_AGAIN);
    // RFC 7208 3.1: type SPF (99) is not used; answer "no data" locally.
    if (type == ns_t_spf) return make_rr(srv, dom, type, NO_DATA);

    // RFC 7208 4.6.4: at most 10 terms that cause DNS queries (include, a,
    // mx, ptr, exists, redirect), counted over the whole evaluation, which
    // libspf2 does per record only.  Address look-ups of MX and PTR targets
    // are part of their mechanism.
    auto marker = (type == ns_t_a) ? spf_record::marker_query(name) : std::nullopt;
    bool sub_lookup = false;
    if (st) {
        bool term = true;
        if (type == ns_t_txt && st->first_record) {
            st->first_record = false;
            term = false;
        } else if ((type == ns_t_a || type == ns_t_aaaa) && !marker && st->sub_names.count(key_of(name))) {
            term = false;
            sub_lookup = true;
        }
        if (term && ++st->terms > 10) {
            st->terms_exceeded = true;
            return make_rr(srv, dom, type, TRY_AGAIN);
        }
    }

    dns::Answer a = marker ? marker_answer(impl, *marker) : ask(impl, name, static_cast<uint16_t>(type));
    if (a.rcode == dns::Rcode::temperror) {
        if (st) st->dns_error = name + ": " + a.why;
        return make_rr(srv, dom, type, TRY_AGAIN);
    }
    // RFC 7208 4.6.4: of more than 10 PTR names only the first 10 are
    // checked; libspf2 checks 10 and then answers permerror when the answer
    // had more, so the result depended on the (shuffled) answer order.
    if (type == ns_t_ptr && a.values.size() > Spf::kMaxPtrNames) a.values.resize(Spf::kMaxPtrNames);
    if (st && (type == ns_t_mx || type == ns_t_ptr))
        for (auto& v : a.values) st->sub_names.insert(key_of(v));

    SPF_dns_rr_t* rr = make_rr(srv, dom, type, herrno_of(a.rcode));
    int n = 0;
    for (auto& v : a.values) {
        bool ok = true;
        switch (type) {
            case ns_t_a: {
                in_addr x{};
                if (inet_pton(AF_INET, v.c_str(), &x) != 1) continue;
                ok = SPF_dns_rr_buf_realloc(rr, n, sizeof x) == SPF_E_SUCCESS;
                if (ok) std::memcpy(&rr->rr[n]->a, &x, sizeof x);
                break;
            }
            case ns_t_aaaa: {
                in6_addr x{};
                if (inet_pton(AF_INET6, v.c_str(), &x) != 1) continue;
                ok = SPF_dns_rr_buf_realloc(rr, n, sizeof x) == SPF_E_SUCCESS;
                if (ok) std::memcpy(&rr->rr[n]->aaaa, &x, sizeof x);
                break;
            }
            case ns_t_txt: {
                std::string text = v;
                if (spf_guard::is_spf_record(text)) {
                    // RFC 7208 grammar first, then the CVE-2023-42118 guard on
                    // exactly what libspf2 will compile.
                    spf_record::Normalized norm = spf_record::normalize(text, st && st->client_ipv6);
                    if (!norm.ok) {
                        if (st && st->syntax.empty()) st->syntax = name + ": " + norm.error;
                        text = std::string(spf_guard::kRefusedRecord);
                    } else if (auto why = spf_guard::check_record(norm.record)) {
                        log::warn("spf: " + name + ": " + *why);
                        if (st) st->refused = name + ": " + *why;
                        text = std::string(spf_guard::kRefusedRecord);
                    } else {
                        text = norm.record;
                    }
                }
                ok = put_text(rr, n, std::move(text));
                break;
            }
            case ns_t_mx:
            case ns_t_ptr:
                ok = put_text(rr, n, v);
                break;
            default:
                continue;
        }
        if (!ok) {
            SPF_dns_rr_free(rr);
            throw SpfAbort("libspf2: out of memory");
        }
        ++n;
    }
    rr->num_rr = n;
    if (n == 0 && rr->herrno == NETDB_SUCCESS) rr->herrno = NO_DATA;

    // RFC 7208 4.6.4: more than two terms with "void" answers end the
    // evaluation with permerror.  The address look-ups of MX and PTR targets
    // belong to their term, whose own query counts.  Answering TRY_AGAIN
    // stops libspf2 right here; run() turns the temperror into the permerror.
    if (st && n == 0 && !sub_lookup) {
        if (++st->void_lookups > Spf::kMaxVoidLookups) {
            st->void_exceeded = true;
            SPF_dns_rr_free(rr);
            return make_rr(srv, dom, type, TRY_AGAIN);
        }
    }
    return rr;
}

// Expand an already compiled macro for the request running on this thread.
SPF_errcode_t expand_macro(SPF_server_t* server, SPF_macro_t* mac, char** bufp, size_t* buflenp) {
    RequestState* st = t_state;
    if (!st || !st->req || !mac) return SPF_E_NOT_CONFIG;
    SPF_response_t* tmp = SPF_response_new(st->req);
    if (!tmp) return SPF_E_NO_MEMORY;
    auto* data = reinterpret_cast<SPF_data_t*>(reinterpret_cast<char*>(mac) + sizeof(SPF_macro_t));
    SPF_errcode_t err = SPF_record_expand_data(server, st->req, tmp, data, mac->macro_len, bufp, buflenp);
    SPF_response_free(tmp);
    return err;
}

// exp=: fetch the explanation TXT ourselves (not counted as a void lookup,
// RFC 7208 4.6.4), guard it, and expand it.  Any problem means "as if there
// were no exp=" (RFC 7208 6.2): the default explanation.
SPF_errcode_t layer_get_exp(SPF_server_t* server, const char* domain, char** bufp, size_t* buflenp) {
    auto* impl = static_cast<Spf::Impl*>(server->resolver->hook);
    RequestState* st = t_state;
    if (!st || !st->req) return SPF_E_NOT_CONFIG;
    dns::Answer a;
    try {
        a = impl->dns->txt(spf_record::truncate_name(domain ? domain : ""));
    } catch (const std::exception&) {
        a.rcode = dns::Rcode::temperror;
    }
    if (a.ok() && a.values.size() == 1) {
        // The explain-string may hold literal spaces, which libspf2's
        // macro compiler mangles; spell them as the %_ macro.
        std::string text;
        for (char c : a.values[0]) {
            if (c == ' ')
                text += "%_";
            else if (c == '\0')
                text += '?';
            else
                text += c;
        }
        auto why = spf_guard::check_explanation(text);
        if (why) {
            log::warn(std::string("spf: ") + domain + ": " + *why);
        } else {
            SPF_response_t* tmp = SPF_response_new(st->req);
            SPF_macro_t* mac = nullptr;
            SPF_errcode_t err = tmp ? SPF_record_compile_macro(server, tmp, &mac, text.c_str()) : SPF_E_NO_MEMORY;
            if (tmp) SPF_response_free(tmp);
            if (err == SPF_E_SUCCESS && mac) {
                err = expand_macro(server, mac, bufp, buflenp);
                SPF_macro_free(mac);
                if (err == SPF_E_SUCCESS) return err;
            } else if (mac) {
                SPF_macro_free(mac);
            }
        }
    }
    return expand_macro(server, server->explanation, bufp, buflenp);
}

SpfResult map_result(SPF_result_t r) {
    switch (r) {
        case SPF_RESULT_PASS:
            return SpfResult::pass;
        case SPF_RESULT_FAIL:
            return SpfResult::fail;
        case SPF_RESULT_SOFTFAIL:
            return SpfResult::softfail;
        case SPF_RESULT_NEUTRAL:
            return SpfResult::neutral;
        case SPF_RESULT_NONE:
            return SpfResult::none;
        case SPF_RESULT_TEMPERROR:
            return SpfResult::temperror;
        case SPF_RESULT_PERMERROR:
            return SpfResult::permerror;
        case SPF_RESULT_INVALID:
            return SpfResult::permerror;  // the record did not compile
    }
    return SpfResult::temperror;
}

// "1.2.3.4", "::ffff:1.2.3.4" (treated as IPv4, RFC 7208 5), or IPv6.
bool set_ip(SPF_request_t* req, const std::string& ip, bool* is_v6) {
    in_addr v4{};
    in6_addr v6{};
    *is_v6 = false;
    if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) return SPF_request_set_ipv4(req, v4) == SPF_E_SUCCESS;
    if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&v6)) {
            std::memcpy(&v4, &v6.s6_addr[12], 4);
            return SPF_request_set_ipv4(req, v4) == SPF_E_SUCCESS;
        }
        *is_v6 = true;
        return SPF_request_set_ipv6(req, v6) == SPF_E_SUCCESS;
    }
    return false;
}

}  // namespace

Spf::Spf(std::shared_ptr<const dns::Lookup> dns, std::string receiver) : impl_(std::make_unique<Impl>()) {
    install_handlers();
    impl_->dns = std::move(dns);
    impl_->receiver = receiver.empty() ? "localhost" : std::move(receiver);
    SPF_dns_server_t& l = impl_->layer;
    l.destroy = nullptr;  // owned by Impl, never freed by libspf2
    l.lookup = layer_lookup;
    l.get_spf = nullptr;
    l.get_exp = layer_get_exp;
    l.add_cache = nullptr;
    l.layer_below = nullptr;
    l.name = "sesmilter";
    l.debug = 0;
    l.hook = impl_.get();
    impl_->server = SPF_server_new_dns(&impl_->layer, 0);
    if (!impl_->server) throw std::bad_alloc();
    SPF_server_set_rec_dom(impl_->server, impl_->receiver.c_str());
    SPF_server_set_sanitize(impl_->server, 1);
    SPF_response_t* resp = nullptr;
    SPF_server_set_explanation(impl_->server, "%{i}%_is%_not%_one%_of%_%{d}'s%_designated%_mail%_servers", &resp);
    if (resp) SPF_response_free(resp);
}

Spf::~Spf() {
    if (impl_ && impl_->server) SPF_server_free(impl_->server);
}

SpfOutcome Spf::check_mailfrom(const SpfRequest& r) const { return run(r, false); }
SpfOutcome Spf::check_helo(const SpfRequest& r) const { return run(r, true); }

SpfOutcome Spf::run(const SpfRequest& r, bool helo) const {
    SpfOutcome out;
    out.scope = helo ? "helo" : "mailfrom";
    std::string helo_name(str::trim(r.helo));
    std::string sender(str::trim(r.sender));
    if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>')
        sender = sender.substr(1, sender.size() - 2);
    if (helo && helo_name.empty()) {
        out.result = SpfResult::none;
        out.comment = "no HELO name";
        return out;
    }
    if (!helo && sender.empty() && helo_name.empty()) {
        out.result = SpfResult::none;
        out.comment = "null sender and no HELO name";
        return out;
    }

    RequestState st;
    StateScope scope(&st);
    SPF_request_t* req = nullptr;
    SPF_response_t* resp = nullptr;
    try {
        req = SPF_request_new(impl_->server);
        if (!req) throw SpfAbort("libspf2: out of memory");
        st.req = req;
        if (!set_ip(req, r.ip, &st.client_ipv6)) {
            SPF_request_free(req);
            out.result = SpfResult::none;
            out.comment = "no usable client address '" + r.ip + "'";
            return out;
        }
        // HELO before MAIL FROM, so the null sender becomes postmaster@helo.
        if (!helo_name.empty()) SPF_request_set_helo_dom(req, helo_name.c_str());
        SPF_request_set_env_from(req, helo ? "" : sender.c_str());
        req->use_helo = helo ? 1 : 0;
        req->cur_dom = helo ? req->helo_dom : req->env_from_dp;
        out.identity = req->env_from ? req->env_from : "";
        out.domain = req->cur_dom ? req->cur_dom : "";
        if (!req->cur_dom || !*req->cur_dom) {
            SPF_request_free(req);
            out.result = SpfResult::none;
            out.comment = "no domain to check";
            return out;
        }

        // SPF_request_query_mailfrom without its loopback free ride.
        resp = SPF_response_new(req);
        if (!resp) throw SpfAbort("libspf2: out of memory");
        SPF_record_t* rec = nullptr;
        SPF_errcode_t err = SPF_server_get_record(impl_->server, req, resp, &rec);
        if (err != SPF_E_SUCCESS) {
            if (rec) SPF_record_free(rec);
            // 1.2.10 leaves the result unset on a DNS error or a record
            // that does not compile.
            SPF_result_t res = resp->result;
            if (res == SPF_RESULT_INVALID) res = err == SPF_E_DNS_ERROR ? SPF_RESULT_TEMPERROR : SPF_RESULT_PERMERROR;
            SPF_i_done(resp, res, SPF_REASON_FAILURE, err);
        } else {
            resp->spf_record_exp = rec;
            SPF_record_interpret(rec, req, resp, 0);
            SPF_record_free(rec);
        }
        out.result = map_result(SPF_response_result(resp));
        if (const char* c = SPF_response_get_header_comment(resp)) out.comment = c;
        if (out.result == SpfResult::fail)
            if (const char* e = SPF_response_get_explanation(resp)) out.explanation = e;
        if (out.result == SpfResult::permerror && SPF_response_errors(resp) > 0) {
            // Name the first error: "Unknown mechanism", "Multiple SPF records", ...
            if (SPF_error_t* e = SPF_response_message(resp, 0))
                if (const char* m = SPF_error_message(e)) out.comment = std::string(m);
        }
    } catch (const SpfAbort& e) {
        log::error(std::string("spf: ") + e.what());
        out.result = SpfResult::temperror;
        out.comment = e.what();
        resp = nullptr;  // state unknown after an abort: leak rather than double free
        req = nullptr;
    }
    if (resp) SPF_response_free(resp);
    if (req) SPF_request_free(req);

    out.void_lookups = st.void_lookups;
    if (!st.refused.empty()) {
        out.result = SpfResult::permerror;
        out.refused_record = true;
        out.comment = st.refused;
        out.explanation.clear();
    } else if (!st.syntax.empty()) {
        out.result = SpfResult::permerror;
        out.comment = "invalid SPF record: " + st.syntax;
        out.explanation.clear();
    } else if (st.void_exceeded) {
        out.result = SpfResult::permerror;
        out.comment = "more than " + std::to_string(kMaxVoidLookups) + " void DNS lookups (RFC 7208 4.6.4)";
        out.explanation.clear();
    } else if (st.terms_exceeded) {
        out.result = SpfResult::permerror;
        out.comment = "more than 10 DNS-querying terms (RFC 7208 4.6.4)";
        out.explanation.clear();
    } else if (out.result == SpfResult::temperror && !st.dns_error.empty()) {
        out.comment = "DNS error: " + st.dns_error;
    }
    return out;
}

}  // namespace ses::auth
