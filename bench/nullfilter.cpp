// nullfilter.cpp -- the do-nothing libmilter filter: the benchmarks' floor.
//
//   build/bench/nullfilter unix:/path/null.sock [--mode 0666] [--header N]
//
// With --header N it adds one N-octet header field at the top of every
// message at end of message (smfi_insheader, folded like a signature), as a
// signing filter does: the reference for what an added header costs the
// MTA (the edit packet, cleanup's queue-file update, the larger message
// relayed), apart from any signing work.
//
// It negotiates exactly what sesmilter negotiates (src/milter/callbacks.cpp:
// the same actions, SMFIP_NOUNKNOWN | SMFIP_NODATA, no reply for connect,
// HELO, MAIL, headers and end of headers, HDR_LEADSPC when offered, the same
// macro lists) and has the same callbacks, each of which does nothing but
// answer CONTINUE (or NOREPLY where negotiated). Whatever sesmilter costs
// above this process under the same load is sesmilter's own work; what this
// costs is libmilter's dispatcher and the protocol's round trips.
//
// Errors: a bad argument or a socket libmilter cannot open exits 2 with a
// message; SIGTERM stops it (libmilter's own signal handling).
// Thread safety: no state at all; libmilter runs the callbacks on its pool.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <libmilter/mfapi.h>

namespace {

// What sesmilter negotiates as "no reply" (callbacks.cpp, cb_negotiate).
constexpr unsigned long kNoReply = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH;
constexpr unsigned long kActions =
    SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE | SMFIF_CHGFROM | SMFIF_ADDRCPT | SMFIF_DELRCPT;

// The negotiated no-reply steps, per connection (smfi_setpriv holds them as
// bits, so no allocation per connection).
unsigned long noreply(SMFICTX* ctx) { return reinterpret_cast<unsigned long>(smfi_getpriv(ctx)); }
sfsistat step(SMFICTX* ctx, unsigned long flag) { return (noreply(ctx) & flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE; }

sfsistat cb_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    *pf0 = (f0 & kActions) | (f0 & SMFIF_SETSYMLIST);
    const unsigned long nr = f1 & kNoReply;
    *pf1 = SMFIP_NOUNKNOWN | SMFIP_NODATA | nr | (f1 & SMFIP_HDR_LEADSPC);
    *pf2 = 0;
    *pf3 = 0;
    smfi_setpriv(ctx, reinterpret_cast<void*>(nr));
    if (f0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char*>("{daemon_name} {daemon_addr} {if_addr} j"));
        smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen} {auth_type}"));
        smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
    }
    return SMFIS_CONTINUE;
}

sfsistat cb_connect(SMFICTX* ctx, char*, _SOCK_ADDR*) { return step(ctx, SMFIP_NR_CONN); }
sfsistat cb_helo(SMFICTX* ctx, char*) { return step(ctx, SMFIP_NR_HELO); }
sfsistat cb_envfrom(SMFICTX* ctx, char**) { return step(ctx, SMFIP_NR_MAIL); }
sfsistat cb_envrcpt(SMFICTX*, char**) { return SMFIS_CONTINUE; }
sfsistat cb_header(SMFICTX* ctx, char*, char*) { return step(ctx, SMFIP_NR_HDR); }
sfsistat cb_eoh(SMFICTX* ctx) { return step(ctx, SMFIP_NR_EOH); }
sfsistat cb_body(SMFICTX*, unsigned char*, size_t) { return SMFIS_CONTINUE; }
std::string g_header;  // the value added with --header; empty: none

sfsistat cb_eom(SMFICTX* ctx) {
    if (!g_header.empty() && smfi_insheader(ctx, 0, const_cast<char*>("X-Null"), g_header.data()) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}
sfsistat cb_abort(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat cb_close(SMFICTX* ctx) {
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

struct smfiDesc g_desc = {
    const_cast<char*>("nullfilter"),
    SMFI_VERSION,
    kActions | SMFIF_SETSYMLIST,
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

int usage() {
    std::fprintf(stderr, "usage: nullfilter unix:/path/socket [--mode 0666] [--header N]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc % 2 != 0) return usage();
    const char* conn = argv[1];
    mode_t mode = 0666;  // Postfix's daemons (user postfix) must connect
    for (int i = 2; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--mode") == 0) {
            mode = static_cast<mode_t>(std::strtoul(argv[i + 1], nullptr, 8));
        } else if (std::strcmp(argv[i], "--header") == 0) {
            size_t n = std::strtoul(argv[i + 1], nullptr, 10);
            // 70-octet lines joined by "\n\t", as libmilter wants folds.
            for (size_t k = 0; k < n; ++k) g_header += (k % 72 == 71) ? '\t' : (k % 72 == 70) ? '\n' : 'a';
        } else {
            return usage();
        }
    }
    if (smfi_register(g_desc) != MI_SUCCESS || smfi_setconn(const_cast<char*>(conn)) != MI_SUCCESS ||
        smfi_settimeout(300) != MI_SUCCESS || smfi_setbacklog(128) != MI_SUCCESS) {
        std::fprintf(stderr, "nullfilter: libmilter refuses %s\n", conn);
        return 2;
    }
    if (smfi_opensocket(true) != MI_SUCCESS) {
        std::fprintf(stderr, "nullfilter: cannot open %s\n", conn);
        return 2;
    }
    const char* path = std::strncmp(conn, "unix:", 5) == 0    ? conn + 5
                       : std::strncmp(conn, "local:", 6) == 0 ? conn + 6
                                                              : nullptr;
    if (path && chmod(path, mode) != 0) {
        std::perror("nullfilter: chmod");
        return 2;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
