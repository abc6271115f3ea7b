// sesmilter.cpp -- the daemon's entry point: arguments and the order of
// start-up.
//
// NAME
//   sesmilter - turns Postfix or Sendmail into a Simple Email Service
// SUMMARY
//   sesmilter [-c FILE] [-f] | --check-config | --dump-config | --man PAGE
// DESCRIPTION
//   Everything that can fail is opened and checked before the daemon reports
//   ready: the pid file (locked: a second instance is refused), the store,
//   the Lua policy script, the keys, the milter socket and its directory.
//   Then, started as root with [milter] user set, the daemon hands the store
//   to that user and drops root for good (setgroups, setgid, setuid, and a
//   check that setuid(0) fails) before libmilter serves any connection.
//   Under systemd (Type=notify) READY=1 follows; STOPPING=1 on a stop.
//   Without -f the process forks and waits for the daemon's verdict, so the
//   exit status tells whether sesmilter came up.  Then libmilter runs in a
//   thread of its own and this thread waits for signals: SIGHUP reloads
//   configuration, keys and policy script, all or nothing; SIGTERM and
//   SIGINT stop accepting connections, let every message in progress get
//   its answer (at most milter.drain_time) and exit.
// DIAGNOSTICS
//   Exit 0 on a clean stop, 1 on a start-up failure (printed on stderr),
//   2 on a usage error.  --check-config prints warnings on stdout and
//   problems on stderr, and exits 1 when there is a problem.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "mta/pools.hpp"
#include "config/paths.hpp"
#include "mail/address.hpp"
#include "mail/replies.hpp"
#include "milter/callbacks.hpp"
#include "milter/runtime.hpp"
#include "milter/notify.hpp"
#include "milter/server.hpp"
#include "milter/identity_recheck.hpp"
#include "milter/reloader.hpp"
#include "policy/reference.hpp"
#include "warmup/hooks.hpp"
#include "config/keys.hpp"
#include "milter/pipeline.hpp"
#include "services/http_api.hpp"
#include "services/http_server.hpp"
#include "services/metrics.hpp"
#include "services/services.hpp"
#include "services/warmup_stack.hpp"
#include "util/daemon.hpp"
#include "util/log.hpp"
#include "util/privileges.hpp"
#include "util/roff.hpp"
#include "util/version.hpp"

using namespace ses;

namespace {

// Counters the milter keeps itself, read at scrape time.
std::vector<metrics::Family> milter_metrics() {
    return {{"sesmilter_warmup_skipped_total",
             "Messages that passed without the warm-up check because it failed (on_error = accept).",
             metrics::Type::counter,
             {{{}, double(milter::warmup_skipped_count())}}},
            {"sesmilter_records_skipped_total",
             "Messages whose record was not written because the store failed (on_error = accept).",
             metrics::Type::counter,
             {{{}, double(milter::records_skipped_count())}}}};
}

constexpr const char* kDefaultConfig = config::kDefaultConfigFile;

// One table for --help and for sesmilter(8) (`--man`).
struct Option {
    const char* name;
    const char* help;  // "%s" is the default configuration file
};
const Option kOptions[] = {
    {"-c FILE", "configuration file (default %s)"},
    {"-f", "stay in the foreground, log to stderr (the systemd unit runs it so)"},
    {"--check-config", "check the configuration and its keys, print problems as FILE:LINE"},
    {"--dump-config", "print the effective configuration, defaults included"},
    {"--config-reference", "print docs/configuration.md"},
    {"--config-example", "print examples/sesmilter.toml"},
    {"--replies-reference", "print docs/replies.md"},
    {"--lua-reference", "print docs/lua-hooks.md"},
    {"--man PAGE", "print the man page sesmilter.8 or sesmilter.toml.5 (roff)"},
    {"--version", "print the version"},
};
const char* kSynopsis[] = {
    "sesmilter [-c FILE] [-f]",
    "sesmilter --check-config [-c FILE]",
    "sesmilter --dump-config [-c FILE]",
    "sesmilter --config-reference | --config-example | --replies-reference",
    "sesmilter --lua-reference | --man PAGE | --version",
};

std::string with_default(const char* help) {
    std::string h = help;
    if (auto at = h.find("%s"); at != std::string::npos) h.replace(at, 2, kDefaultConfig);
    return h;
}

void usage(std::FILE* f) {
    bool first = true;
    for (const char* line : kSynopsis) {
        std::fprintf(f, "%s%s\n", first ? "usage: " : "       ", line);
        first = false;
    }
    std::fprintf(f, "\n");
    for (const auto& o : kOptions) std::fprintf(f, "  %-20s %s\n", o.name, with_default(o.help).c_str());
}

// sesmilter(8): synopsis and options from the tables above; the rest is
// the start-up story told in the header of this file.
std::string man_page() {
    std::string o = roff::header("sesmilter", 8, "turns Postfix or Sendmail into a Simple Email Service",
                                 "System Manager's Manual");
    o += ".SH SYNOPSIS\n";
    for (const char* line : kSynopsis) o += roff::text(line) + "\n.br\n";
    o += ".SH DESCRIPTION\n" +
         roff::text(
             "sesmilter is a milter: the MTA passes it every message, and it signs outbound mail with DKIM, "
             "applies warm-up quotas (holding mail over the day's limit in the MTA's hold queue), records "
             "each message and its delivery status, and checks SPF, DKIM and DMARC on inbound mail.") +
         "\n.PP\n" +
         roff::text(
             "At start-up it opens everything that can fail before it reports ready: the configuration, the "
             "keys, the Lua policy, the store (LMDB), the milter socket. Started as root with `user` set in "
             "`[milter]`, it then gives the store to that user, drops root for good (supplementary groups, "
             "group, user, then a check that root cannot be regained) and only then serves mail; without "
             "`user` it logs a warning that it handles mail as root. Under systemd (Type=notify) it sends "
             "READY=1 once the socket accepts connections.") +
         "\n.SH OPTIONS\n";
    for (const auto& opt : kOptions)
        o += ".TP\n\\fB" + roff::text(opt.name) + "\\fR\n" + roff::text(with_default(opt.help)) + "\n";
    o += ".SH SIGNALS\n.TP\nSIGHUP\n" +
         roff::text(
             "reload the configuration, keys and policy script, all or nothing; a file that does not check is "
             "refused and the running configuration kept. After the privilege drop the files must be readable "
             "by the service user.") +
         "\n.TP\nSIGTERM, SIGINT\n" +
         roff::text(
             "stop accepting connections, let every message in progress get its answer (at most "
             "`milter.drain_time`), exit.") +
         "\n.SH EXIT STATUS\n" +
         roff::text("0 on a clean stop, 1 on a start-up failure (printed on stderr), 2 on a usage error.") +
         "\n.SH FILES\n.TP\n" + roff::text(kDefaultConfig) + "\nthe configuration (\\fBsesmilter.toml\\fR(5))\n" +
         ".TP\n/var/lib/sesmilter\nthe store\n.TP\n/usr/share/sesmilter/lua\nthe shipped policy scripts\n" +
         ".TP\n/usr/share/doc/sesmilter\ndocumentation, among it operations.md\n" +
         ".SH SEE ALSO\n\\fBsesctl\\fR(8), \\fBsesmilter.toml\\fR(5), \\fBpostconf\\fR(5)\n";
    return o;
}

log::Level level_of(const config::Config& cfg) {
    log::Level l = log::Level::info;
    log::parse_level(cfg.daemon.log_level, l);
    return l;
}

// The reload thread re-reads the file after the daemon has left its
// working directory.
std::string absolute(const std::string& path) {
    char buf[PATH_MAX];
    if (realpath(path.c_str(), buf)) return buf;
    return path;
}

size_t signing_domains(const config::Config& cfg) {
    size_t n = 0;
    for (const auto& d : cfg.domains) n += d.dkim.empty() ? 0 : 1;
    return n;
}

const char* kSignsNothing = "no [[domain]] has a DKIM key: sesmilter signs nothing";

// Can `dir` be created (its nearest existing ancestor is writable)?
bool creatable(std::string dir) {
    struct stat st;
    while (stat(dir.c_str(), &st) != 0 && dir != "/" && dir != ".") dir = daemon::dirname_of(dir);
    return S_ISDIR(st.st_mode) && access(dir.c_str(), W_OK) == 0;
}

// The [[pool]]s against the MTA's configuration (docs/pools.md): warnings,
// since the MTA may be configured after sesmilter.
void pool_warnings(const config::Config& cfg, std::vector<std::string>& warnings) {
    if (cfg.pools.empty()) return;
    if (cfg.get(config::key::mta::kind) == "sendmail") {
        warnings.push_back("pool: " + mta::sendmail_pools_note());
        return;
    }
    auto diff = mta::check_postfix_pools(cfg);
    if (!diff) {
        warnings.push_back("pool: cannot compare with Postfix: " + diff.error().what);
        return;
    }
    for (const auto& d : *diff)
        warnings.push_back("pool: Postfix disagrees with the [[pool]]s (`sesctl mta config` prints the lines): " + d);
}

// --check-config: the checks of a start-up, changing nothing.
int check_config(const std::string& path, const config::Config& cfg) {
    std::vector<std::string> problems, warnings;
    auto rt = milter::Runtime::build(cfg);
    if (!rt) problems.push_back(rt.error().what);
    if (auto pol = services::Services::check_policy(cfg); !pol)
        problems.push_back(pol.error().what);
    else
        std::printf("%s: policy: %s\n", path.c_str(), pol->c_str());
    // Globals named like hooks but never registered with ses.on: the script
    // loads, yet the built-in rule would decide.
    if (auto lint = services::check_warmup_script(cfg))
        for (auto& w : *lint) warnings.push_back("policy.script: " + w);
    if (auto st = milter::Server::check(cfg, warnings); !st) problems.push_back(st.error().what);
    std::string store = cfg.get(config::key::store::path);
    struct stat st;
    if (stat(store.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode) || access(store.c_str(), R_OK | W_OK | X_OK) != 0)
            problems.push_back("store.path: " + store + " is not a writable directory");
    } else if (!creatable(store)) {
        problems.push_back("store.path: " + store + " does not exist and cannot be created");
    }
    if (!cfg.daemon.pidfile.empty() && !creatable(daemon::dirname_of(cfg.daemon.pidfile)))
        problems.push_back("daemon.pidfile: directory " + daemon::dirname_of(cfg.daemon.pidfile) +
                           " does not exist and cannot be created");
    if (std::string user = cfg.get(config::key::milter::user); !user.empty()) {
        auto who = privileges::resolve(user, cfg.get(config::key::milter::group));
        if (!who)
            problems.push_back(who.error().what);
        else if (auto plan = privileges::plan(geteuid(), *who); plan.action == privileges::Action::refuse)
            problems.push_back(plan.error);
    } else if (!cfg.get(config::key::milter::group).empty()) {
        problems.push_back("milter.group is set without milter.user");
    }
    if (signing_domains(cfg) == 0) warnings.push_back(kSignsNothing);
    pool_warnings(cfg, warnings);
    for (const auto& w : warnings) std::printf("%s: warning: %s\n", path.c_str(), w.c_str());
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    if (!problems.empty()) return 1;
    std::printf("%s: OK (%zu domains, %zu keys)\n", path.c_str(), cfg.domains.size(), (*rt)->keys.key_count());
    return 0;
}

// Signals.  libmilter's smfi_main() starts a thread that sigwait()s for
// SIGHUP, SIGTERM and SIGINT and stops the milter at once (no drain, and on
// SIGHUP too) when it gets one.  The kernel gives a process-directed signal
// to the main thread whenever that thread does not block it, so the three
// signals are left unblocked here, in every thread sesmilter creates, with a
// handler that only writes the signal number into a pipe read by run().
// libmilter blocks them in its own threads.
int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
    int saved = errno;
    unsigned char c = static_cast<unsigned char>(sig);
    ssize_t n = write(g_signal_pipe[1], &c, 1);
    (void)n;  // a full pipe already holds a wake-up
    errno = saved;
}

void wake_main() { on_signal(0); }

Status install_signal_handlers() {
    if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return internal_error(std::string("pipe: ") + std::strerror(errno));
    fcntl(g_signal_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
        sigaction(sig, &sa, nullptr);
        sigaddset(&set, sig);
    }
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    return ok_status();
}

// Start-up up to "ready", then signals until a stop.
int run(const std::string& path, const config::Config& cfg, bool foreground) {
    std::optional<daemon::Detach> detached;
    // auto: syslog for a daemon when a syslog socket exists; otherwise stderr,
    // which systemd's journal reads with the level of each line.
    bool to_syslog = cfg.daemon.log_target == "syslog" ||
                     (cfg.daemon.log_target == "auto" && !foreground && access("/dev/log", F_OK) == 0);
    auto fail = [&](const std::string& why) {
        if (to_syslog) log::error(why);  // on stderr it would be said twice
        if (detached)
            detached->fail("sesmilter: " + why);
        else
            std::fprintf(stderr, "sesmilter: %s\n", why.c_str());
        return 1;
    };
    if (!foreground) {
        auto d = daemon::Detach::start();
        if (!d) return 1;  // the waiting process has printed why
        detached.emplace(std::move(*d));
    }
    if (auto st = install_signal_handlers(); !st) return fail(st.error().what);
    log::setup("sesmilter", to_syslog ? log::Target::syslog : log::Target::stderr_, level_of(cfg),
               cfg.daemon.syslog_facility);

    std::optional<daemon::PidFile> pidfile;
    if (!foreground && !cfg.daemon.pidfile.empty()) {
        auto pf = daemon::PidFile::lock(cfg.daemon.pidfile);
        if (!pf) return fail(pf.error().what);
        if (auto st = pf->write(getpid()); !st) return fail(st.error().what);
        pidfile.emplace(std::move(*pf));
    }
    // Resolved before anything is opened: a misspelt user fails at once.
    std::optional<privileges::Identity> service_user;
    if (std::string user = cfg.get(config::key::milter::user); !user.empty()) {
        auto who = privileges::resolve(user, cfg.get(config::key::milter::group));
        if (!who) return fail(who.error().what);
        service_user = *who;
    } else if (!cfg.get(config::key::milter::group).empty()) {
        return fail("milter.group is set without milter.user");
    }
    auto plan = privileges::plan(geteuid(), service_user);
    if (plan.action == privileges::Action::refuse) return fail(plan.error);

    // The store is opened here, in the daemon (an LMDB environment must not
    // cross fork()), and before any thread starts (time zone set-up).
    auto svc = services::Services::open(cfg);
    if (!svc) return fail(svc.error().what);
    std::shared_ptr<services::Services> services = *svc;
    auto rt = milter::Runtime::build(cfg, services);
    if (!rt) return fail(rt.error().what);
    milter::install(*rt);
    std::vector<std::string> warnings;
    auto server = milter::Server::open(cfg, warnings);
    if (!server) return fail(server.error().what);
    // Bound now, while the daemon may still hold privileges; served once
    // everything else has started.
    std::unique_ptr<services::HttpServer> http_server;
    if (!cfg.get(config::key::http::listen).empty()) {
        std::vector<std::string> hooks;
        for (const auto& w : cfg.webhooks) hooks.push_back(w.id);
        auto& reg = metrics::global();
        services::add_service_collectors(reg, services, cfg.get(config::key::mta::log_file), std::move(hooks));
        reg.add_collector(milter_metrics);
        auto http = services::HttpServer::open(
            services::http_settings_from(cfg),
            services::make_router(services, reg, cfg.get(config::key::http::dashboard_assets)));
        if (!http) return fail(http.error().what);
        http_server = std::move(*http);
    } else if (!cfg.get(config::key::http::admin_listen).empty()) {
        warnings.push_back("http.admin_listen is set but http.listen is empty: no HTTP endpoint");
    }
    if (signing_domains(cfg) == 0) warnings.push_back(kSignsNothing);
    if (!plan.warning.empty()) warnings.push_back(plan.warning);
    for (const auto& w : warnings) log::warn(w);

    // Everything that needs root is done; no thread serves mail yet.
    if (plan.action == privileges::Action::drop) {
        std::string store = cfg.get(config::key::store::path);
        if (auto st = privileges::hand_over(store, *service_user); !st) return fail(st.error().what);
        if (auto st = privileges::drop(*service_user); !st) return fail(st.error().what);
        log::notice("dropped privileges: running as " + service_user->user + " (uid " +
                    std::to_string(service_user->uid) + ", gid " + std::to_string(service_user->gid) + ")");
    }

    services->add(std::make_unique<milter::IdentityRecheck>());
    auto reloader_owned = std::make_unique<milter::Reloader>(path, services);
    milter::Reloader* reloader = reloader_owned.get();
    services->add(std::move(reloader_owned));
    if (http_server) services->add(std::move(http_server));
    services->start();
    (*server)->on_lost = [] { on_signal(SIGTERM); };  // the pipe write is thread-safe
    (*server)->start();
    log::notice("started: socket " + cfg.milter.socket + ", " + std::to_string(cfg.domains.size()) + " domains, " +
                std::to_string((*rt)->keys.key_count()) + " keys");
    if (detached) detached->ready();
    milter::notify::ready("signing for " + std::to_string(cfg.domains.size()) + " domains");

    // The stop runs in a thread of its own; this thread stays ready for
    // signals (see install_signal_handlers()).
    std::atomic<bool> stopped{false};
    std::thread stopper;
    auto drain = std::chrono::milliseconds(cfg.get(config::key::milter::drain_time) * 1000);
    while (!stopped) {
        unsigned char sig = 0;
        ssize_t n = read(g_signal_pipe[0], &sig, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n != 1) {
            log::error("signal pipe: " + std::string(n < 0 ? std::strerror(errno) : "closed"));
            sig = SIGTERM;
        }
        if (sig == 0) continue;  // the stopper is done
        if (sig == SIGHUP) {
            if (!stopper.joinable()) {
                milter::notify::status("reload requested");
                reloader->request();
            }
            continue;
        }
        if (stopper.joinable()) {
            log::notice("stopping already, waiting for messages in progress");
            continue;
        }
        // Refuse new work before saying so: whoever reads "stopping" may
        // rely on it (the drain itself runs in the stopper thread).
        milter::set_draining(true);
        milter::notify::stopping("draining messages in progress");
        (*server)->stop_accepting();
        log::notice("stopping: " + std::to_string(milter::transactions_in_progress()) + " messages in progress, " +
                    std::to_string(milter::active_sessions()) + " sessions open; waiting up to " +
                    std::to_string(drain.count() / 1000) + "s");
        stopper = std::thread([&] {
            int left = (*server)->shutdown(drain);
            if (left > 0)
                log::warn("milter.drain_time passed with " + std::to_string(left) +
                          " messages in progress; the MTA answers them per milter_default_action");
            stopped = true;
            wake_main();
        });
    }
    stopper.join();
    services->stop();
    milter::install(nullptr);
    server->reset();
    log::notice("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = kDefaultConfig;
    bool foreground = false, check = false, dump = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (a == "-f" || a == "--foreground") {
            foreground = true;
        } else if (a == "--check-config") {
            check = true;
        } else if (a == "--dump-config") {
            dump = true;
        } else if (a == "--config-reference") {
            std::cout << config::reference_markdown();
            return 0;
        } else if (a == "--replies-reference") {
            std::cout << mail::replies_markdown();
            return 0;
        } else if (a == "--lua-reference") {
            std::cout << policy::lua_reference_markdown(warmup::hook_defs(), warmup::hook_argument_types());
            return 0;
        } else if (a == "--man" && i + 1 < argc) {
            std::string page = argv[++i];
            if (page == "sesmilter.8") {
                std::cout << man_page();
            } else if (page == "sesmilter.toml.5") {
                std::cout << config::reference_man();
            } else {
                std::fprintf(stderr, "sesmilter: --man: no page %s (sesmilter.8, sesmilter.toml.5)\n", page.c_str());
                return 2;
            }
            return 0;
        } else if (a == "--config-example") {
            std::cout << config::example_toml();
            return 0;
        } else if (a == "-V" || a == "--version") {
            std::cout << "sesmilter " << kVersion << "\n";
            return 0;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "sesmilter: unknown argument %s\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }

    // Blocked before any thread exists, so that every thread inherits it:
    // only libmilter's listener thread takes it (milter/server.cpp).
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &wake, nullptr);

    mail::init();
    auto cfg = config::load_file(path);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().what.c_str());
        return 1;
    }
    if (dump) {
        std::cout << cfg->dump();
        return 0;
    }
    if (check) return check_config(path, *cfg);
    return run(absolute(path), *cfg, foreground);
}
