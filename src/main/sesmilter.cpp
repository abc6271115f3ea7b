// sesmilter.cpp -- the daemon's entry point.
//
// NAME
//   sesmilter - turns Postfix or Sendmail into a Simple Email Service
// SUMMARY
//   sesmilter [-c FILE] [-f] | --check-config | --dump-config
// DESCRIPTION
//   Loads the configuration and keys (failing at start-up, with the reason,
//   rather than at the first message), opens the milter socket, then runs
//   libmilter's worker pool in one thread while the main thread waits for
//   signals: SIGHUP reloads configuration and keys without dropping a
//   connection (a file that does not check is refused and the running one
//   kept); SIGTERM and SIGINT stop after open sessions drain.
// DIAGNOSTICS
//   Exit 0 on a clean stop, 1 on a start-up failure (printed on stderr),
//   2 on a usage error.

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include <libmilter/mfapi.h>

#include "config/config.hpp"
#include "mail/address.hpp"
#include "milter/callbacks.hpp"
#include "milter/runtime.hpp"
#include "policy/reference.hpp"
#include "warmup/hooks.hpp"
#include "services/services.hpp"
#include "util/log.hpp"

using namespace ses;

namespace {

constexpr const char* kDefaultConfig = "/etc/sesmilter/sesmilter.toml";

void usage(std::FILE* f) {
    std::fprintf(f,
                 "usage: sesmilter [-c FILE] [-f]\n"
                 "       sesmilter --check-config [-c FILE]\n"
                 "       sesmilter --dump-config [-c FILE]\n"
                 "       sesmilter --config-reference | --config-example | --lua-reference | --version\n"
                 "\n"
                 "  -c FILE           configuration file (default %s)\n"
                 "  -f                stay in the foreground, log to stderr\n"
                 "  --check-config    check the configuration and its keys, print problems as FILE:LINE\n"
                 "  --dump-config     print the effective configuration, defaults included\n"
                 "  --config-reference  print docs/configuration.md\n"
                 "  --config-example  print examples/sesmilter.toml\n"
                 "  --lua-reference   print docs/lua-hooks.md\n",
                 kDefaultConfig);
}

log::Level level_of(const config::Config& cfg) {
    log::Level l = log::Level::info;
    log::parse_level(cfg.daemon.log_level, l);
    return l;
}

// libmilter keeps the listening socket to itself; TCP_NODELAY on it is
// inherited by accepted sockets on Linux, which avoids the ~40 ms
// Nagle/delayed-ACK stall per milter round trip.
void set_nodelay_on_listeners() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return;
    while (dirent* e = readdir(d)) {
        int fd = std::atoi(e->d_name);
        if (fd <= 2) continue;
        int type = 0, listening = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
        len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
        sockaddr_storage ss;
        len = sizeof ss;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
        if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    closedir(d);
}

// libmilter's listener notices smfi_stop() only when its poll() times out
// (5 s); a connection of our own wakes it at once.
void wake_listener(const std::string& spec) {
    std::string path;
    if (spec.rfind("unix:", 0) == 0)
        path = spec.substr(5);
    else if (spec.rfind("local:", 0) == 0)
        path = spec.substr(6);
    else
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    (void)connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    close(fd);
}

bool prepare_unix_socket(const config::Config& cfg, std::string& err) {
    const std::string& s = cfg.milter.socket;
    std::string path;
    if (s.rfind("unix:", 0) == 0)
        path = s.substr(5);
    else if (s.rfind("local:", 0) == 0)
        path = s.substr(6);
    else
        return true;
    if (chmod(path.c_str(), cfg.milter.socket_mode) != 0) {
        err = "chmod " + path + ": " + std::strerror(errno);
        return false;
    }
    if (!cfg.milter.socket_owner.empty()) {
        std::string user = cfg.milter.socket_owner, group;
        if (auto c = user.find(':'); c != std::string::npos) {
            group = user.substr(c + 1);
            user.resize(c);
        }
        uid_t uid = static_cast<uid_t>(-1);
        gid_t gid = static_cast<gid_t>(-1);
        if (!user.empty()) {
            struct passwd* pw = getpwnam(user.c_str());
            if (!pw) {
                err = "milter.socket_owner: no user " + user;
                return false;
            }
            uid = pw->pw_uid;
            if (group.empty()) gid = pw->pw_gid;
        }
        if (!group.empty()) {
            struct group* gr = getgrnam(group.c_str());
            if (!gr) {
                err = "milter.socket_owner: no group " + group;
                return false;
            }
            gid = gr->gr_gid;
        }
        if (chown(path.c_str(), uid, gid) != 0) {
            err = "chown " + path + ": " + std::strerror(errno);
            return false;
        }
    }
    return true;
}

bool daemonize(const std::string& pidfile) {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid > 0) _exit(0);
    setsid();
    pid = fork();
    if (pid < 0) return false;
    if (pid > 0) _exit(0);
    if (chdir("/") != 0) return false;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    if (!pidfile.empty()) {
        std::ofstream(pidfile) << getpid() << "\n";
    }
    return true;
}

// ---- reload -------------------------------------------------------------

std::shared_ptr<services::Services> g_services;
std::mutex g_reload_mu;
std::condition_variable g_reload_cv;
bool g_reload_wanted = false;
bool g_stopping = false;

void reload_once(const std::string& path) {
    auto cfg = config::load_file(path);
    if (!cfg) {
        log::error("reload refused, keeping the running configuration: " + cfg.error().what);
        return;
    }
    auto old = milter::current();
    if (old && old->cfg.milter.socket != cfg->milter.socket)
        log::warn("reload: milter.socket changed; the new socket takes effect after a restart");
    log::Level lvl = level_of(*cfg);
    g_services->reload(*cfg);
    auto rt = milter::Runtime::build(std::move(*cfg), g_services);
    if (!rt) {
        log::error("reload refused, keeping the running configuration: " + rt.error().what);
        return;
    }
    milter::install(*rt);
    log::set_level(lvl);
    log::notice("reload: configuration and keys reloaded from " + path + " (" +
                std::to_string((*rt)->cfg.domains.size()) + " domains, " + std::to_string((*rt)->keys.key_count()) +
                " keys)");
}

// Also re-checks the DNS records of the identities at start and every hour
// when a domain has `require_verified`, which reads the stored results.
void reload_loop(std::string path) {
    std::unique_lock lk(g_reload_mu);
    auto next_check = std::chrono::steady_clock::now();
    for (;;) {
        if (!g_reload_cv.wait_until(lk, next_check, [] { return g_reload_wanted || g_stopping; })) {
            next_check = std::chrono::steady_clock::now() + std::chrono::hours(1);
            auto rt = milter::current();
            bool wanted = false;  // only require_verified reads the results
            for (auto& d : rt ? rt->cfg.domains : std::vector<config::DomainConf>{})
                wanted = wanted || d.require_verified;
            if (wanted && rt->auth) {
                lk.unlock();
                rt->auth->verify_identities();
                lk.lock();
            }
            continue;
        }
        if (g_stopping) return;
        g_reload_wanted = false;
        lk.unlock();
        reload_once(path);
        lk.lock();
    }
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
        } else if (a == "--lua-reference") {
            std::cout << policy::lua_reference_markdown(warmup::hook_defs(), warmup::hook_argument_types());
            return 0;
        } else if (a == "--config-example") {
            std::cout << config::example_toml();
            return 0;
        } else if (a == "-V" || a == "--version") {
            std::cout << "sesmilter 0.1.0\n";
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
    log::Level level = level_of(*cfg);
    std::string pidfile = cfg->daemon.pidfile;
    bool to_syslog = cfg->daemon.log_target == "syslog" || (cfg->daemon.log_target == "auto" && !foreground);
    std::string facility = cfg->daemon.syslog_facility;
    std::string socket = cfg->milter.socket;
    int timeout = static_cast<int>(cfg->milter.timeout);
    int backlog = cfg->milter.backlog;
    config::Config cfg_copy = *cfg;

    auto rt = milter::Runtime::build(std::move(*cfg));
    if (!rt) {
        std::fprintf(stderr, "%s\n", rt.error().what.c_str());
        return 1;
    }
    if (check) {
        std::printf("%s: OK (%zu domains, %zu keys)\n", path.c_str(), (*rt)->cfg.domains.size(),
                    (*rt)->keys.key_count());
        return 0;
    }

    if (!foreground && !daemonize(pidfile)) {
        std::fprintf(stderr, "sesmilter: cannot daemonize: %s\n", std::strerror(errno));
        return 1;
    }
    log::setup("sesmilter", to_syslog ? log::Target::syslog : log::Target::stderr_, level, facility);
    // The store is opened after daemonizing (an LMDB environment must not
    // cross fork()) and before any thread starts (time zone set-up).
    auto svc = services::Services::open(cfg_copy);
    if (!svc) {
        log::error(svc.error().what);
        if (foreground) std::fprintf(stderr, "sesmilter: %s\n", svc.error().what.c_str());
        return 1;
    }
    g_services = *svc;
    rt = milter::Runtime::build(cfg_copy, g_services);
    if (!rt) {
        log::error(rt.error().what);
        return 1;
    }
    milter::install(*rt);

    // Signals are blocked in every thread and taken by sigwait() in this
    // one.  libmilter's own signal thread also waits for them; Linux hands
    // a process signal to the main thread first when it is waiting, so
    // SIGHUP reaches the reload path and not libmilter's stop.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    if (auto st = milter::register_filter(); !st) {
        log::error(st.error().what);
        return 1;
    }
    if (smfi_setconn(const_cast<char*>(socket.c_str())) != MI_SUCCESS || smfi_settimeout(timeout) != MI_SUCCESS ||
        smfi_setbacklog(backlog) != MI_SUCCESS) {
        log::error("cannot configure milter socket " + socket);
        return 1;
    }
    mode_t old_umask = umask(0177);
    if (smfi_opensocket(true) != MI_SUCCESS) {
        umask(old_umask);
        log::error("cannot open milter socket " + socket + ": " + std::strerror(errno));
        std::fprintf(stderr, "sesmilter: cannot open milter socket %s\n", socket.c_str());
        return 1;
    }
    umask(old_umask);
    std::string err;
    if (!prepare_unix_socket(cfg_copy, err)) {
        log::error(err);
        return 1;
    }
    set_nodelay_on_listeners();

    g_services->start();
    std::thread reloader(reload_loop, path);
    std::thread milter_thread([] {
        int rc = smfi_main();
        if (rc != MI_SUCCESS) log::error("smfi_main returned failure");
    });
    log::notice("started: socket " + socket + ", " + std::to_string((*rt)->cfg.domains.size()) + " domains, " +
                std::to_string((*rt)->keys.key_count()) + " keys");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            std::lock_guard lk(g_reload_mu);
            g_reload_wanted = true;
            g_reload_cv.notify_all();
            continue;
        }
        break;
    }
    log::notice("stopping: draining " + std::to_string(milter::active_sessions()) + " sessions");
    smfi_stop();
    wake_listener(socket);
    milter_thread.join();
    log::debug("milter loop returned");
    {
        std::lock_guard lk(g_reload_mu);
        g_stopping = true;
        g_reload_cv.notify_all();
    }
    reloader.join();
    g_services->stop();
    // smfi_main returns without waiting for sessions; give them a bounded
    // time to finish so their replies reach the MTA.
    for (int i = 0; i < 100 && milter::active_sessions() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!foreground && !pidfile.empty()) unlink(pidfile.c_str());
    milter::install(nullptr);
    g_services.reset();
    log::notice("stopped");
    return 0;
}
