// daemon.cpp -- see daemon.hpp.
#include "util/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace ses::daemon {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += static_cast<size_t>(n);
    }
}

void to_dev_null(int target) {
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return;
    dup2(fd, target);
    if (fd != target) close(fd);
}

// The waiting side of Detach: 'R' means ready, 'F' a failure followed by
// its message; end of file without either means the daemon died.
[[noreturn]] void wait_for_daemon(int fd) {
    std::string got;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    if (!got.empty() && got[0] == 'R') _exit(0);
    std::string msg =
        !got.empty() && got[0] == 'F' ? got.substr(1) : "sesmilter: the daemon exited during start-up (see its log)";
    msg += "\n";
    write_all(2, msg);
    _exit(1);
}

}  // namespace

Result<Owner> owner_of(const std::string& spec) {
    Owner o;
    if (spec.empty()) return o;
    std::string user = spec, group;
    if (auto c = user.find(':'); c != std::string::npos) {
        group = user.substr(c + 1);
        user.resize(c);
    }
    if (!user.empty()) {
        struct passwd* pw = getpwnam(user.c_str());
        if (!pw) return internal_error("no user " + user);
        o.uid = pw->pw_uid;
        if (group.empty()) o.gid = pw->pw_gid;
    }
    if (!group.empty()) {
        struct group* gr = getgrnam(group.c_str());
        if (!gr) return internal_error("no group " + group);
        o.gid = gr->gr_gid;
    }
    return o;
}

std::string dirname_of(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

Status make_directories(const std::string& path, mode_t mode, const Owner& owner) {
    if (path.empty()) return ok_status();
    struct stat st;
    if (stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return internal_error(path + " exists and is not a directory");
        return ok_status();
    }
    if (errno != ENOENT) return internal_error(sys_error(path));
    std::string parent = dirname_of(path);
    if (parent != path && parent != "." && parent != "/") {
        if (auto s = make_directories(parent, mode, owner); !s) return s;
    }
    if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return internal_error(sys_error("cannot create " + path));
    // mkdir's mode is cut by the umask; the directory gets what was asked.
    if (chmod(path.c_str(), mode) != 0) return internal_error(sys_error("chmod " + path));
    if (owner.given() && chown(path.c_str(), owner.uid, owner.gid) != 0)
        return internal_error(sys_error("chown " + path));
    return ok_status();
}

Result<Detach> Detach::start() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return internal_error(sys_error("pipe"));
    pid_t pid = fork();
    if (pid < 0) return internal_error(sys_error("fork"));
    if (pid > 0) {
        close(p[1]);
        wait_for_daemon(p[0]);
    }
    close(p[0]);
    Detach d(p[1]);
    if (setsid() < 0 || (pid = fork()) < 0) {
        std::string e = sys_error("sesmilter: cannot detach");
        d.fail(e);
        return internal_error(e);
    }
    if (pid > 0) _exit(0);  // the waiting process learns the outcome from the pipe
    to_dev_null(0);
    to_dev_null(1);
    return d;
}

Detach::~Detach() {
    if (fd_ >= 0) close(fd_);
}

void Detach::ready() {
    if (fd_ < 0) return;
    write_all(fd_, "R");
    close(fd_);
    fd_ = -1;
    to_dev_null(2);
    if (chdir("/") != 0) { /* nothing relies on the working directory after start-up */
    }
}

void Detach::fail(const std::string& message) {
    if (fd_ < 0) return;
    write_all(fd_, "F" + message);
    close(fd_);
    fd_ = -1;
}

Result<PidFile> PidFile::lock(const std::string& path) {
    if (auto st = make_directories(dirname_of(path), 0755); !st) return Error{"pid file: " + st.error().what, {}};
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return internal_error(sys_error("pid file " + path));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        if (err == EWOULDBLOCK) {
            std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
            while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
            return internal_error("another sesmilter is already running (pid " + (pid.empty() ? "unknown" : pid) +
                                  ", it holds " + path + ")");
        }
        errno = err;
        return internal_error(sys_error("cannot lock pid file " + path));
    }
    return PidFile(path, fd);
}

Status PidFile::write(pid_t pid) {
    std::string s = std::to_string(pid) + "\n";
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, s.data(), s.size(), 0) != static_cast<ssize_t>(s.size()))
        return internal_error(sys_error("cannot write pid file " + path_));
    return ok_status();
}

PidFile::~PidFile() {
    if (fd_ < 0) return;
    unlink(path_.c_str());
    close(fd_);
}

}  // namespace ses::daemon
