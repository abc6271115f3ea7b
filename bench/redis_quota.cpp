// redis_quota.cpp -- the fleet's quota decision through Redis: the latency
// of one atomic check-and-charge (store::SharedState::charge, EVALSHA) on
// loopback, against the same call on the LMDB backend.  Starts its own
// redis-server on 127.0.0.1 (a free port, no persistence) and stops it by
// PID.  Target (issue #17): median <= 150 us.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "time_each.hpp"

using namespace ses;

namespace {

int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

void run(const char* name, store::SharedState& s) {
    const int n = 20000;
    int failed = 0;
    auto f = bench::time_each(n, [&](int i) {
        auto a = s.charge({{"d:bench.example", 1u << 30}, {"i:192.0.2.1", 1u << 30}}, 1, 1, 3600);
        if (!a) ++failed;
    });
    std::printf("%-6s quota decision (2 identities): median %.1f us, p99 %.1f us, %d failed of %d\n", name, f.median,
                f.p99, failed, n);
}

}  // namespace

int main() {
    auto dir = std::filesystem::temp_directory_path() / ("ses-bench-redis-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    int port = free_port();
    pid_t pid = ::fork();
    if (pid == 0) {
        std::string p = std::to_string(port);
        ::execl("/usr/bin/redis-server", "redis-server", "--bind", "127.0.0.1", "--port", p.c_str(), "--dir",
                dir.c_str(), "--save", "", "--appendonly", "no", "--loglevel", "warning", "--logfile",
                (dir / "redis.log").c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    store::SharedOptions o;
    o.backend = "redis";
    o.redis_url = "redis://127.0.0.1:" + std::to_string(port) + "/0";
    auto r = store::open_shared_state(o, nullptr);
    if (r) run("redis", **r);

    store::Options eo;
    eo.path = (dir / "lmdb").string();
    auto env = store::Env::open(eo);
    o.backend = "lmdb";
    if (env)
        if (auto l = store::open_shared_state(o, *env)) run("lmdb", **l);
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    std::filesystem::remove_all(dir);
    return r ? 0 : 1;
}
