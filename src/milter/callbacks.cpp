// callbacks.cpp -- see callbacks.hpp.
//
// libmilter (Debian builds it with _FFR_WORKERS_POOL) may run the callbacks
// of one connection on different threads, one at a time, so all connection
// state lives in the Session behind smfi_setpriv, never in thread_local.
// Each callback fetches the Session, converts libmilter's arguments to
// strings, calls the Session and maps its Step to an SMFIS_* code.
#include "milter/callbacks.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>

#include <libmilter/mfapi.h>

#include "milter/session.hpp"
#include "util/log.hpp"

namespace ses::milter {
namespace {

std::atomic<int> g_sessions{0};
std::atomic<int> g_transactions{0};  // sessions between MAIL FROM and end of message
std::atomic<bool> g_draining{false};

// Keeps g_transactions in step with the session's own idea of whether a
// transaction is open, whatever path a step took.
struct TxnCount {
    Session* s;
    bool was;
    explicit TxnCount(Session* s) : s(s), was(s && s->in_transaction()) {}
    ~TxnCount() {
        bool now = s && s->in_transaction();
        if (now != was) g_transactions.fetch_add(now ? 1 : -1);
    }
};

Session* session(SMFICTX* ctx) { return static_cast<Session*>(smfi_getpriv(ctx)); }

std::string macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v ? v : "";
}

// Replies must not contain a lone '%' (libmilter formats them).
std::string reply_text(const std::string& t) {
    std::string out;
    for (char c : t) {
        if (c == '\r' || c == '\n') continue;
        out += c;
        if (c == '%') out += '%';
    }
    return out;
}

// The MTA edit sink: the Message's edits as libmilter calls.
class MilterSink final : public EditSink {
public:
    explicit MilterSink(SMFICTX* ctx) : ctx_(ctx) {}
    bool insert_header(int index, const std::string& name, const std::string& value) override {
        return smfi_insheader(ctx_, index, c(name), c(value)) == MI_SUCCESS;
    }
    bool change_header(const std::string& name, int index, const std::string& value) override {
        return smfi_chgheader(ctx_, c(name), index, c(value)) == MI_SUCCESS;
    }
    bool delete_header(const std::string& name, int index) override {
        return smfi_chgheader(ctx_, c(name), index, nullptr) == MI_SUCCESS;
    }
    bool quarantine(const std::string& reason) override { return smfi_quarantine(ctx_, c(reason)) == MI_SUCCESS; }
    bool change_from(const std::string& addr, const std::string& args) override {
        // Postfix keeps only RET= and ENVID= of the arguments.
        return smfi_chgfrom(ctx_, c(addr), args.empty() ? nullptr : c(args)) == MI_SUCCESS;
    }
    bool delete_rcpt(const std::string& raw) override { return smfi_delrcpt(ctx_, c(raw)) == MI_SUCCESS; }
    bool replace_body(std::string_view chunk) override {
        return smfi_replacebody(ctx_, reinterpret_cast<unsigned char*>(const_cast<char*>(chunk.data())),
                                static_cast<int>(chunk.size())) == MI_SUCCESS;
    }

private:
    static char* c(const std::string& s) { return const_cast<char*>(s.c_str()); }
    SMFICTX* ctx_;
};

// Maps a Step to libmilter; in a step the MTA does not wait on the answer
// is SMFIS_NOREPLY (the Session keeps what it has to say for later).
sfsistat answer(SMFICTX* ctx, const Step& st, bool noreply) {
    if (noreply) return SMFIS_NOREPLY;
    auto reply = [&](sfsistat code) {
        if (!st.reply.empty())
            smfi_setreply(ctx, const_cast<char*>(st.reply.code.c_str()), const_cast<char*>(st.reply.xcode.c_str()),
                          const_cast<char*>(reply_text(st.reply.text).c_str()));
        return code;
    };
    switch (st.kind) {
        case Step::Kind::next:
            return SMFIS_CONTINUE;
        case Step::Kind::accept:
            return SMFIS_ACCEPT;
        case Step::Kind::reject:
            return reply(SMFIS_REJECT);
        case Step::Kind::discard:
            return SMFIS_DISCARD;
        case Step::Kind::tempfail:
            break;
    }
    return reply(SMFIS_TEMPFAIL);
}

// The backstop around every callback: a Session step catches its own
// exceptions; anything escaping the edge code itself (an allocation while
// converting arguments) is answered per on_error too, never a crash.
template <class F>
sfsistat guarded(SMFICTX* ctx, const char* stage, bool noreply, F&& f) {
    Session* s = session(ctx);
    try {
        if (!s) throw std::runtime_error("no session");
        return answer(ctx, f(*s), noreply);
    } catch (const std::exception& e) {
        if (s) return answer(ctx, s->internal_failure(stage, e.what(), noreply), noreply);
        log::error(std::string("NOQUEUE: ") + stage + ": " + e.what());
    } catch (...) {
        if (s) return answer(ctx, s->internal_failure(stage, "unknown exception", noreply), noreply);
        log::error(std::string("NOQUEUE: ") + stage + ": unknown exception");
    }
    return noreply ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
}

// ---- callbacks ----------------------------------------------------------

sfsistat cb_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    const unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE | SMFIF_CHGFROM |
                               SMFIF_ADDRCPT | SMFIF_DELRCPT;
    if ((f0 & want) != want) log::warn("the MTA does not offer every milter action sesmilter may need");
    *pf0 = (f0 & want) | (f0 & SMFIF_SETSYMLIST);
    // Steps we have no callback for are skipped; header replies are not
    // needed (an oversize header block is refused at end of headers), which
    // saves a round trip per header.
    unsigned long steps = SMFIP_NOUNKNOWN | SMFIP_NODATA;
    // Steps that never refuse by themselves are not waited on; a failure in
    // one is answered at the next step that replies (RCPT, body, EOM).
    const unsigned long nr = f1 & (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH);
    steps |= nr;
    steps |= (f1 & SMFIP_HDR_LEADSPC);
    *pf1 = steps;
    *pf2 = 0;
    // The session starts here: only negotiate knows whether header values
    // will arrive with their leading space.
    if (!session(ctx)) {
        NoReply n;
        n.connect = nr & SMFIP_NR_CONN;
        n.helo = nr & SMFIP_NR_HELO;
        n.mail = nr & SMFIP_NR_MAIL;
        n.header = nr & SMFIP_NR_HDR;
        n.eoh = nr & SMFIP_NR_EOH;
        auto s = std::make_unique<Session>((f1 & SMFIP_HDR_LEADSPC) != 0, n);
        smfi_setpriv(ctx, s.release());
        g_sessions.fetch_add(1);
    }
    *pf3 = 0;
    if (f0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char*>("{daemon_name} {daemon_addr} {if_addr} j"));
        smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen} {auth_type}"));
        smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
    }
    return SMFIS_CONTINUE;
}

sfsistat cb_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* addr) {
    if (!session(ctx)) {
        // An MTA without option negotiation (milter protocol < 6).
        smfi_setpriv(ctx, new Session(false, NoReply{}));
        g_sessions.fetch_add(1);
    }
    Session* s = session(ctx);
    return guarded(ctx, "connect", s->no_reply().connect, [&](Session& s) {
        std::string ip;
        if (addr) {
            char buf[INET6_ADDRSTRLEN] = {0};
            if (addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
            else if (addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
            ip = buf;
        }
        return s.connect(hostname ? hostname : "", ip, macro(ctx, "{daemon_name}"));
    });
}

sfsistat cb_helo(SMFICTX* ctx, char* helo) {
    Session* s = session(ctx);
    return guarded(ctx, "helo", s && s->no_reply().helo, [&](Session& s) { return s.helo(helo ? helo : ""); });
}

sfsistat cb_envfrom(SMFICTX* ctx, char** argv) {
    Session* s = session(ctx);
    TxnCount count(s);
    return guarded(ctx, "envfrom", s && s->no_reply().mail, [&](Session& s) {
        if (g_draining) return s.refuse_transaction();  // a stop waits for the messages in progress
        return s.mail(argv && argv[0] ? argv[0] : "", macro(ctx, "{auth_authen}"), macro(ctx, "i"));
    });
}

sfsistat cb_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envrcpt", false, [&](Session& s) { return s.rcpt(argv && argv[0] ? argv[0] : ""); });
}

sfsistat cb_header(SMFICTX* ctx, char* name, char* value) {
    Session* s = session(ctx);
    return guarded(ctx, "header", s && s->no_reply().header,
                   [&](Session& s) { return s.header(name ? name : "", value ? value : ""); });
}

sfsistat cb_eoh(SMFICTX* ctx) {
    Session* s = session(ctx);
    return guarded(ctx, "eoh", s && s->no_reply().eoh, [&](Session& s) { return s.eoh(); });
}

sfsistat cb_body(SMFICTX* ctx, unsigned char* chunk, size_t len) {
    return guarded(ctx, "body", false, [&](Session& s) {
        return s.body(std::string_view(reinterpret_cast<const char*>(chunk), chunk ? len : 0));
    });
}

sfsistat cb_eom(SMFICTX* ctx) {
    TxnCount count(session(ctx));
    return guarded(ctx, "eom", false, [&](Session& s) {
        MilterSink sink(ctx);
        return s.eom(macro(ctx, "i"), sink);
    });
}

sfsistat cb_abort(SMFICTX* ctx) {
    TxnCount count(session(ctx));
    return guarded(ctx, "abort", false, [&](Session& s) { return s.abort(); });
}

sfsistat cb_close(SMFICTX* ctx) {
    Session* s = session(ctx);
    if (s) {
        if (s->in_transaction()) g_transactions.fetch_sub(1);
        smfi_setpriv(ctx, nullptr);
        delete s;
        g_sessions.fetch_sub(1);
    }
    return SMFIS_CONTINUE;
}

struct smfiDesc g_desc = {
    const_cast<char*>("sesmilter"),
    SMFI_VERSION,
    SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE | SMFIF_CHGFROM | SMFIF_ADDRCPT | SMFIF_DELRCPT |
        SMFIF_SETSYMLIST,
    cb_connect,
    cb_helo,
    cb_envfrom,
    cb_envrcpt,
    cb_header,
    cb_eoh,
    cb_body,
    cb_eom,
    cb_abort,
    cb_close,
    nullptr,  // unknown
    nullptr,  // data
    cb_negotiate,
};

}  // namespace

Status register_filter() {
    if (smfi_register(g_desc) != MI_SUCCESS) return internal_error("smfi_register failed");
    return ok_status();
}

int active_sessions() { return g_sessions.load(); }

int transactions_in_progress() { return g_transactions.load(); }

void set_draining(bool on) { g_draining = on; }

}  // namespace ses::milter
