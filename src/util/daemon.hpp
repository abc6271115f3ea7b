// daemon.hpp -- becoming a daemon without lying about start-up.
//
// Detach::start() forks; the process that called it waits until the daemon
// says ready() (it exits 0) or fail(message) (it prints the message on
// stderr and exits 1), so `sesmilter -c FILE` exits non-zero whenever the
// daemon does not come up.  Everything that can fail (pid file lock, store,
// keys, Lua script, socket) is opened in the daemon itself, after the fork,
// so nothing such as an LMDB environment crosses fork().
//
// PidFile holds an exclusive flock() on the pid file for the life of the
// process: a second instance on the same configuration is refused and told
// the pid of the running one.
//
// make_directories() is `mkdir -p` that hands the directories it creates to
// an owner; owner_of() parses "user[:group]".
//
// Errors: every function returns a Status/Result naming the path and the
// system error.  Thread safety: call from the main thread during start-up,
// before other threads exist (fork).
#pragma once

#include <sys/types.h>

#include <string>

#include "util/result.hpp"

namespace ses::daemon {

// uid/gid of "user[:group]"; -1 for a part not given.  "" is no owner.
struct Owner {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    bool given() const { return uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1); }
};
Result<Owner> owner_of(const std::string& spec);

// Creates `path` and its missing parents with `mode`; directories it creates
// are chown'ed to `owner` (when given).  An existing directory is left as is.
Status make_directories(const std::string& path, mode_t mode, const Owner& owner = {});

// The directory part of a path ("." when there is none).
std::string dirname_of(const std::string& path);

class Detach {
public:
    // Returns in the daemon (a new session, stdin/stdout on /dev/null, stderr
    // kept until ready()).  The calling process never returns.
    static Result<Detach> start();
    Detach(Detach&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Detach(const Detach&) = delete;
    ~Detach();

    void ready();                           // the caller exits 0; stderr -> /dev/null, cwd -> /
    void fail(const std::string& message);  // the caller prints it and exits 1

private:
    explicit Detach(int fd) : fd_(fd) {}
    int fd_ = -1;  // write end of the pipe to the waiting process
};

class PidFile {
public:
    // Creates the file's directory, opens and locks the file.  Refused when
    // another process holds the lock ("already running (pid N)").
    static Result<PidFile> lock(const std::string& path);
    PidFile(PidFile&& o) noexcept : path_(std::move(o.path_)), fd_(o.fd_) { o.fd_ = -1; }
    PidFile(const PidFile&) = delete;
    ~PidFile();  // removes the file it wrote

    Status write(pid_t pid);

private:
    PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    std::string path_;
    int fd_ = -1;
};

}  // namespace ses::daemon
