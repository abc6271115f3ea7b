// process.cpp -- see process.hpp.
#include "mta/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace ses::mta {

namespace {
constexpr size_t kMaxOutput = 64 * 1024;

int64_t monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

std::string command_line(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv, int64_t timeout_seconds) {
    if (argv.empty()) return internal_error("mta: empty command");
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return internal_error(std::string("mta: pipe: ") + std::strerror(errno));

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);

    // Children start with default signal handling and an empty mask, whatever
    // the daemon blocked for its own threads.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    pid_t pid = -1;
    int rc = argv[0].find('/') == std::string::npos ? posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ)
                                                    : posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        return internal_error("mta: cannot run " + argv[0] + ": " + std::strerror(rc));
    }

    ProcessResult res;
    int64_t deadline = monotonic_ms() + std::max<int64_t>(1, timeout_seconds) * 1000;
    char buf[4096];
    for (;;) {
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) {
            res.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p {
            out[0], POLLIN, 0
        };
        int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        ssize_t got = read(out[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  // EOF: the child closed its output (usually: exited)
        if (res.output.size() < kMaxOutput)
            res.output.append(
                buf, static_cast<size_t>(std::min<ssize_t>(got, static_cast<ssize_t>(kMaxOutput - res.output.size()))));
    }
    close(out[0]);
    int status = 0;
    for (;;) {  // a child that closed its output may still be running
        pid_t w = waitpid(pid, &status, res.timed_out ? 0 : WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (w == 0 && monotonic_ms() >= deadline) {
            res.timed_out = true;
            kill(pid, SIGKILL);
            continue;
        }
        if (w == 0) usleep(10000);
    }
    res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return res;
}

}  // namespace ses::mta
