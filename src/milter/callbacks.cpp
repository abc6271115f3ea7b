// callbacks.cpp -- see callbacks.hpp.
//
// libmilter (Debian builds it with _FFR_WORKERS_POOL) may run the callbacks
// of one connection on different threads, one at a time, so all connection
// state lives in the Session behind smfi_setpriv, never in thread_local.
#include "milter/callbacks.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>

#include <libmilter/mfapi.h>

#include "mail/address.hpp"
#include "mail/message.hpp"
#include "mail/size_guard.hpp"
#include "milter/pipeline.hpp"
#include "milter/runtime.hpp"
#include "util/log.hpp"

namespace ses::milter {
namespace {

std::atomic<int> g_sessions{0};
std::atomic<int> g_transactions{0};
std::atomic<bool> g_draining{false};

struct Session {
    std::shared_ptr<const Runtime> rt;  // taken at MAIL FROM
    mail::Message msg;
    mail::SizeGuard size;
    bool leadspc = false;            // the MTA passes header values with their leading space
    unsigned long noreply = 0;       // SMFIP_NR_* steps agreed in negotiate
    std::optional<Verdict> pending;  // a failure in a no-reply step, answered at the next reply
    bool over = false;               // past max_message_size (rejected at the next reply point)
    bool in_transaction = false;     // counted in g_transactions
    // Connection data, kept across transactions.
    std::string client_addr, client_name, helo, daemon_name;

    void new_transaction() {
        msg = mail::Message{};
        msg.env.client_addr = client_addr;
        msg.env.client_name = client_name;
        msg.env.helo = helo;
        msg.env.daemon_name = daemon_name;
        over = false;
        rt = current();
        size.reset(rt ? rt->cfg.milter.max_message_size : UINT64_MAX);
    }
};

Session* session(SMFICTX* ctx) { return static_cast<Session*>(smfi_getpriv(ctx)); }

void end_transaction(Session* s) {
    if (s && s->in_transaction) {
        s->in_transaction = false;
        g_transactions.fetch_sub(1);
    }
}

std::string macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v ? v : "";
}

std::string qid(Session* s) { return s && !s->msg.env.queue_id.empty() ? s->msg.env.queue_id : "NOQUEUE"; }

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

sfsistat answer(SMFICTX* ctx, const Reply& r, sfsistat code) {
    if (!r.empty())
        smfi_setreply(ctx, const_cast<char*>(r.code.c_str()), const_cast<char*>(r.xcode.c_str()),
                      const_cast<char*>(reply_text(r.text).c_str()));
    return code;
}

config::OnError on_error(Session* s) {
    auto rt = s && s->rt ? s->rt : current();
    return rt ? rt->cfg.milter.on_error : config::OnError::tempfail;
}

// Every callback body runs inside this: an exception anywhere becomes the
// on_error answer and one log line, never a crash or a silent pass.
// Every callback body runs inside this: an exception anywhere becomes the
// on_error answer and one log line, never a crash or a silent pass.  In a
// step the MTA does not wait on (`nr`), the answer is kept in the session
// and given at the next step that has a reply.
template <class F>
sfsistat guarded(SMFICTX* ctx, const char* stage, unsigned long nr, F&& f) {
    Session* s = session(ctx);
    std::string what;
    try {
        sfsistat r = f(s);
        return (s && (s->noreply & nr)) ? SMFIS_NOREPLY : r;
    } catch (const std::exception& e) {
        what = std::string(stage) + ": " + e.what();
    } catch (...) {
        what = std::string(stage) + ": unknown exception";
    }
    Verdict v = verdict_for(internal_error(what), on_error(s));
    log::error(qid(s) + ": " + v.log);
    if (s && (s->noreply & nr)) {
        s->pending = v;
        return SMFIS_NOREPLY;
    }
    return answer(ctx, v.reply, v.kind == Verdict::Kind::accept ? SMFIS_ACCEPT : SMFIS_TEMPFAIL);
}

// The answer kept from a no-reply step, if any.
std::optional<sfsistat> take_pending(SMFICTX* ctx, Session* s) {
    if (!s || !s->pending) return std::nullopt;
    Verdict v = *s->pending;
    s->pending.reset();
    switch (v.kind) {
        case Verdict::Kind::accept:
            return SMFIS_ACCEPT;
        case Verdict::Kind::reject:
            return answer(ctx, v.reply, SMFIS_REJECT);
        case Verdict::Kind::tempfail:
            break;
    }
    return answer(ctx, v.reply, SMFIS_TEMPFAIL);
}

sfsistat reject_oversize(SMFICTX* ctx, Session* s) {
    Reply r = size_reply(s->size.limit());
    log::notice(qid(s) + ": reject: " + r.str() + " from=<" + s->msg.env.mail_from + ">");
    return answer(ctx, r, SMFIS_REJECT);
}

// Replays the Message's edits as libmilter calls.  Header edits first, in
// the order the stages made them, then the body.
Status apply_edits(SMFICTX* ctx, Session* s) {
    auto value = [&](const std::string& v) { return s->leadspc ? " " + v : v; };
    bool body = false;
    for (auto& e : s->msg.edits()) {
        int rc = MI_SUCCESS;
        std::string v;
        switch (e.kind) {
            case mail::Edit::Kind::insert_header:
                v = value(e.value);
                rc = smfi_insheader(ctx, e.index, const_cast<char*>(e.name.c_str()), const_cast<char*>(v.c_str()));
                break;
            case mail::Edit::Kind::change_header:
                v = value(e.value);
                rc = smfi_chgheader(ctx, const_cast<char*>(e.name.c_str()), e.index, const_cast<char*>(v.c_str()));
                break;
            case mail::Edit::Kind::delete_header:
                rc = smfi_chgheader(ctx, const_cast<char*>(e.name.c_str()), e.index, nullptr);
                break;
            case mail::Edit::Kind::replace_body:
                body = true;
                break;
            case mail::Edit::Kind::quarantine:
                rc = smfi_quarantine(ctx, const_cast<char*>(e.value.c_str()));
                break;
            case mail::Edit::Kind::change_from:
                v = "<" + e.name + ">";
                rc = smfi_chgfrom(ctx, const_cast<char*>(v.c_str()), nullptr);
                break;
        }
        if (rc != MI_SUCCESS) return internal_error("the MTA refused a message change (" + e.name + ")");
    }
    if (body) {
        const std::string& b = s->msg.body();
        constexpr size_t chunk = 65535;
        for (size_t off = 0; off < b.size() || off == 0; off += chunk) {
            size_t n = std::min(chunk, b.size() - off);
            if (smfi_replacebody(ctx, reinterpret_cast<unsigned char*>(const_cast<char*>(b.data() + off)),
                                 static_cast<int>(n)) != MI_SUCCESS)
                return internal_error("the MTA refused the new body");
            if (b.empty()) break;
        }
    }
    return ok_status();
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
        auto s = std::make_unique<Session>();
        s->leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
        s->noreply = nr;
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
    return guarded(ctx, "connect", SMFIP_NR_CONN, [&](Session* s) {
        if (!s) {
            s = new Session();
            smfi_setpriv(ctx, s);
            g_sessions.fetch_add(1);
        }
        s->client_name = hostname ? hostname : "";
        if (addr) {
            char buf[INET6_ADDRSTRLEN] = {0};
            if (addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
            else if (addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
            s->client_addr = buf;
        }
        s->daemon_name = macro(ctx, "{daemon_name}");
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_helo(SMFICTX* ctx, char* helo) {
    return guarded(ctx, "helo", SMFIP_NR_HELO, [&](Session* s) {
        if (s) s->helo = helo ? helo : "";
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_envfrom(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envfrom", SMFIP_NR_MAIL, [&](Session* s) {
        if (!s) throw std::runtime_error("no session");
        if (g_draining) {  // a stop is waiting for the messages in progress
            Verdict v;
            v.kind = Verdict::Kind::tempfail;
            v.reply = Reply{"421", "4.3.2", "sesmilter is shutting down, try again later"};
            if (!(s->noreply & SMFIP_NR_MAIL)) return answer(ctx, v.reply, SMFIS_TEMPFAIL);
            s->pending = v;  // answered at RCPT TO
            return SMFIS_CONTINUE;
        }
        if (!s->in_transaction) g_transactions.fetch_add(1);
        s->in_transaction = true;
        s->new_transaction();
        if (!s->rt) throw std::runtime_error("no configuration loaded");
        s->msg.env.mail_from = std::string(mail::strip_brackets(argv && argv[0] ? argv[0] : ""));
        s->msg.env.auth_user = macro(ctx, "{auth_authen}");
        s->msg.env.queue_id = macro(ctx, "i");
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envrcpt", 0, [&](Session* s) {
        if (auto p = take_pending(ctx, s)) return *p;
        std::string raw = argv && argv[0] ? argv[0] : "";
        s->msg.env.rcpts.emplace_back(mail::strip_brackets(raw));
        s->msg.env.rcpt_raw.push_back(std::move(raw));
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_header(SMFICTX* ctx, char* name, char* value) {
    return guarded(ctx, "header", SMFIP_NR_HDR, [&](Session* s) {
        if (s->over) return SMFIS_CONTINUE;
        std::string v = value ? value : "";
        if (!s->leadspc) v.insert(0, " ");
        if (!s->size.add_header(name, v)) {
            s->over = true;
            return SMFIS_CONTINUE;  // header replies are not waited for; refused at EOH
        }
        s->msg.feed_header(name, std::move(v));
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_eoh(SMFICTX* ctx) {
    return guarded(ctx, "eoh", SMFIP_NR_EOH, [&](Session* s) {
        if (s->over) {
            if (s->noreply & SMFIP_NR_EOH) {
                // Answered at the first body chunk (or end of message).
                Verdict v;
                v.kind = Verdict::Kind::reject;
                v.reply = size_reply(s->size.limit());
                s->pending = v;
                log::notice(qid(s) + ": reject: " + v.reply.str() + " from=<" + s->msg.env.mail_from + ">");
                return SMFIS_CONTINUE;
            }
            return reject_oversize(ctx, s);
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_body(SMFICTX* ctx, unsigned char* chunk, size_t len) {
    return guarded(ctx, "body", 0, [&](Session* s) {
        if (auto p = take_pending(ctx, s)) return *p;
        if (!s->size.add_body(len)) {
            s->over = true;
            return reject_oversize(ctx, s);
        }
        s->msg.feed_body(std::string_view(reinterpret_cast<char*>(chunk), len));
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_eom(SMFICTX* ctx) {
    struct Ended {
        SMFICTX* ctx;
        ~Ended() { end_transaction(session(ctx)); }
    } ended{ctx};
    return guarded(ctx, "eom", 0, [&](Session* s) {
        if (auto p = take_pending(ctx, s)) return *p;
        if (s->over) return reject_oversize(ctx, s);
        if (std::string q = macro(ctx, "i"); !q.empty()) s->msg.env.queue_id = q;
        Verdict v = end_of_message(s->msg, *s->rt);
        if (v.kind == Verdict::Kind::accept && v.apply_edits) {
            if (auto st = apply_edits(ctx, s); !st) v = verdict_for(st.error(), s->rt->cfg.milter.on_error);
        }
        std::string line = qid(s) + ": " + v.log + " from=<" + s->msg.env.mail_from +
                           "> nrcpt=" + std::to_string(s->msg.env.rcpts.size()) +
                           " size=" + std::to_string(s->size.used());
        switch (v.kind) {
            case Verdict::Kind::accept:
                log::info(line);
                return SMFIS_ACCEPT;
            case Verdict::Kind::reject:
                log::notice(line);
                return answer(ctx, v.reply, SMFIS_REJECT);
            case Verdict::Kind::tempfail:
                (v.reply.code == "451" && v.reply.xcode == "4.3.0" ? log::error(line) : log::notice(line));
                return answer(ctx, v.reply, SMFIS_TEMPFAIL);
        }
        return SMFIS_TEMPFAIL;
    });
}

sfsistat cb_abort(SMFICTX* ctx) {
    return guarded(ctx, "abort", 0, [&](Session* s) {
        end_transaction(s);
        if (s) s->msg = mail::Message{};
        return SMFIS_CONTINUE;
    });
}

sfsistat cb_close(SMFICTX* ctx) {
    Session* s = session(ctx);
    if (s) {
        end_transaction(s);
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
