// server.cpp -- see server.hpp.
#include "milter/server.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <libmilter/mfapi.h>

#include "milter/callbacks.hpp"
#include "milter/signal_guard.hpp"
#include "util/daemon.hpp"
#include "util/log.hpp"

namespace ses::milter {
namespace {

// The signal that interrupts libmilter's listener poll(); main() blocks it
// before any thread exists, the listener thread unblocks it.
constexpr int kWakeSignal = SIGUSR2;

void on_wake_signal(int) {}

std::string unix_path_of(const std::string& spec) {
    if (spec.rfind("unix:", 0) == 0) return spec.substr(5);
    if (spec.rfind("local:", 0) == 0) return spec.substr(6);
    if (!spec.empty() && spec[0] == '/') return spec;
    return "";
}

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// Is something listening on this unix socket path?  A refused connection is
// a stale socket file from a process that is gone.
bool socket_in_use(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    bool in_use = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return in_use;
}

// The checks shared by open() and check().  With `create` (start-up) a
// missing directory is made and a socket in use is refused; without
// (--check-config) the directory must be creatable and nothing changes.
Status check_unix_socket(const config::Config& cfg, const std::string& path, bool create,
                         std::vector<std::string>& warnings) {
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
        return internal_error("milter.socket: path " + path + " is too long for a unix socket");
    std::string dir = daemon::dirname_of(path);
    auto owner = daemon::owner_of(cfg.milter.socket_owner);
    if (!owner) return internal_error("milter.socket_owner: " + owner.error().what);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT) return internal_error(sys_error("milter.socket: directory " + dir));
        if (!create) {
            // Creatable when the nearest existing ancestor is writable.
            std::string up = dir;
            while (stat(up.c_str(), &st) != 0 && up != "/" && up != ".") up = daemon::dirname_of(up);
            if (access(up.c_str(), W_OK) != 0)
                return internal_error("milter.socket: directory " + dir + " does not exist and cannot be created (" +
                                      up + " is not writable)");
            return ok_status();
        }
        if (auto made = daemon::make_directories(dir, 0755, *owner); !made)
            return internal_error("milter.socket: " + made.error().what);
        log::notice("created the socket directory " + dir);
        if (stat(dir.c_str(), &st) != 0) return internal_error(sys_error("milter.socket: directory " + dir));
    }
    if (!S_ISDIR(st.st_mode)) return internal_error("milter.socket: " + dir + " is not a directory");
    if (st.st_mode & S_IWOTH) {
        if (!(st.st_mode & S_ISVTX))
            return internal_error("milter.socket: directory " + dir +
                                  " is writable by everyone and has no sticky bit: any local user could "
                                  "replace the socket; use a directory of its own (e.g. /run/sesmilter)");
        warnings.push_back("milter.socket: directory " + dir +
                           " is writable by everyone (sticky bit set); a directory of its own is safer");
    }
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return internal_error("milter.socket: " + path + " exists and is not a socket");
        // --check-config runs beside the daemon it checks: only start-up refuses.
        if (create && socket_in_use(path))
            return internal_error("milter.socket: another process listens on " + path +
                                  " (is sesmilter already running?)");
    }
    return ok_status();
}

Status set_owner_and_mode(const config::Config& cfg, const std::string& path) {
    if (chmod(path.c_str(), cfg.milter.socket_mode) != 0) return internal_error(sys_error("chmod " + path));
    auto owner = daemon::owner_of(cfg.milter.socket_owner);
    if (!owner) return internal_error("milter.socket_owner: " + owner.error().what);
    if (owner->given() && chown(path.c_str(), owner->uid, owner->gid) != 0)
        return internal_error(sys_error("chown " + path));
    return ok_status();
}

// libmilter keeps its listening descriptor to itself; it is the only
// listening socket of the process when open() runs.
int find_listener() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1;
    while (dirent* e = readdir(d)) {
        int fd = std::atoi(e->d_name);
        if (fd <= 2 || fd == dirfd(d)) continue;
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) found = fd;
    }
    closedir(d);
    return found;
}

void set_nodelay(int fd) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

Status Server::check(const config::Config& cfg, std::vector<std::string>& warnings) {
    std::string path = unix_path_of(cfg.milter.socket);
    if (path.empty()) return ok_status();
    return check_unix_socket(cfg, path, false, warnings);
}

Result<std::unique_ptr<Server>> Server::open(const config::Config& cfg, std::vector<std::string>& warnings) {
    std::unique_ptr<Server> s(new Server());
    s->socket_ = cfg.milter.socket;
    s->unix_path_ = unix_path_of(cfg.milter.socket);
    if (!s->unix_path_.empty()) {
        if (auto st = check_unix_socket(cfg, s->unix_path_, true, warnings); !st) return st.error();
    }
    if (auto st = register_filter(); !st) return st.error();
    if (smfi_setconn(const_cast<char*>(s->socket_.c_str())) != MI_SUCCESS ||
        smfi_settimeout(static_cast<int>(cfg.milter.timeout)) != MI_SUCCESS ||
        smfi_setbacklog(cfg.milter.backlog) != MI_SUCCESS)
        return internal_error("milter.socket: libmilter does not accept " + s->socket_);
    // The socket is created 0600 and opened up to socket_mode once it has
    // its owner, so nobody else can connect in between.
    mode_t old_umask = umask(0177);
    int rc = smfi_opensocket(true);
    int err = errno;
    umask(old_umask);
    if (rc != MI_SUCCESS) {
        errno = err;
        return internal_error(sys_error("milter.socket: cannot open " + s->socket_));
    }
    if (!s->unix_path_.empty()) {
        if (auto st = set_owner_and_mode(cfg, s->unix_path_); !st)
            return internal_error("milter.socket: " + st.error().what);
        struct stat st;
        if (stat(s->unix_path_.c_str(), &st) == 0) {
            s->sock_dev_ = st.st_dev;
            s->sock_ino_ = st.st_ino;
        }
    }
    s->listen_fd_ = find_listener();
    if (s->listen_fd_ < 0) return internal_error("milter.socket: libmilter opened no listening socket");
    set_nodelay(s->listen_fd_);
    s->accepting_ = true;
    return s;
}

void Server::start() {
    // Links the sigwait() interposer: libmilter's thread must never take
    // the signals main() handles (signal_guard.hpp).
    (void)libmilter_signals_guarded();
    struct sigaction sa {};
    // poll() returns EINTR whatever SA_RESTART says; SA_RESTART spares the
    // threads libmilter creates from the listener (they inherit its mask)
    // an EINTR elsewhere should anyone else send this signal.
    sa.sa_handler = on_wake_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(kWakeSignal, &sa, nullptr);
    thread_ = std::thread([this] {
        sigset_t wake;
        sigemptyset(&wake);
        sigaddset(&wake, kWakeSignal);
        pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
        if (smfi_main() != MI_SUCCESS) log::error("libmilter's main loop failed (see the lines before)");
        returned_ = true;
        if (!stop_requested_ && on_lost) {
            log::warn("libmilter's main loop ended by itself (its signal thread took a stop signal); stopping");
            on_lost();
        }
    });
}

// libmilter's listener re-checks for a stop only when its poll() returns,
// which it does every 5 s; a signal makes it return at once.
void Server::interrupt_listener() {
    if (thread_.joinable()) pthread_kill(thread_.native_handle(), kWakeSignal);
}

void Server::stop_accepting() {
    stop_requested_ = true;
    if (!accepting_) return;
    accepting_ = false;
    // The listening socket is replaced, under libmilter's descriptor number,
    // by an eventfd that never becomes readable: the kernel refuses new
    // connections, libmilter's listener keeps waiting until stop().
    int quiet = eventfd(0, EFD_CLOEXEC);
    if (quiet >= 0 && listen_fd_ >= 0) {
        dup2(quiet, listen_fd_);
        close(quiet);
    }
    interrupt_listener();  // drop the poll() that still holds the old socket
    struct stat st;
    if (!unix_path_.empty() && lstat(unix_path_.c_str(), &st) == 0 && st.st_dev == sock_dev_ && st.st_ino == sock_ino_)
        unlink(unix_path_.c_str());
}

void Server::stop() {
    stop_accepting();
    listen_fd_ = -1;  // libmilter closes it; the number may be reused
    if (!thread_.joinable()) return;
    // smfi_stop() sets the stop flag, then waits for the listener's lock,
    // which the listener holds through its poll(): the listener is
    // interrupted until it has returned (repeatedly, because a signal that
    // lands just before poll() is lost).
    std::atomic<bool> stopped{false};
    std::thread waker([this, &stopped] {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!returned_ && !(stopped && std::chrono::steady_clock::now() >= deadline)) {
            interrupt_listener();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    smfi_stop();
    stopped = true;
    waker.join();
    if (returned_)
        thread_.join();
    else
        thread_.detach();  // libmilter did not come back; the process ends anyway
}

int Server::shutdown(std::chrono::milliseconds drain_time) {
    using clock = std::chrono::steady_clock;
    stop_accepting();
    set_draining(true);
    auto deadline = clock::now() + drain_time;
    // The count drops when an end-of-message callback returns, just before
    // libmilter writes its reply; the quiet period lets that reply go out.
    constexpr auto quiet = std::chrono::milliseconds(50);
    auto idle_since = clock::now();
    bool idle = false;
    for (;;) {
        auto now = clock::now();
        if (transactions_in_progress() > 0) {
            idle = false;
        } else if (!idle) {
            idle = true;
            idle_since = now;
        }
        if ((idle && now - idle_since >= quiet) || now >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    int left = transactions_in_progress();
    stop();
    return left;
}

Server::~Server() { stop(); }

}  // namespace ses::milter
