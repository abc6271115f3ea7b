// redis_fixture.hpp -- a private redis-server for unit tests: 127.0.0.1, a
// free port, a private directory, no persistence, stopped by its PID.
#pragma once

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "store/shared_state.hpp"

namespace ses::test {

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";

inline std::filesystem::path temp_path(const char* what) {
    static std::atomic<int> n{0};
    auto p = std::filesystem::temp_directory_path() /
             (std::string("ses-shared-") + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

inline int free_port() {
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

inline bool port_open(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

// One redis-server of this test, stopped by its PID.
struct RedisServer {
    std::filesystem::path dir = temp_path("redis");
    int port = free_port();
    pid_t pid = -1;

    static bool available() { return ::access(kRedisServer, X_OK) == 0; }

    void start() {
        std::string p = std::to_string(port);
        pid = ::fork();
        if (pid == 0) {
            ::execl(kRedisServer, kRedisServer, "--bind", "127.0.0.1", "--port", p.c_str(), "--dir", dir.c_str(),
                    "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--logfile",
                    (dir / "redis.log").c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 200 && !port_open(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        REQUIRE(port_open(port));
    }
    void stop() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
    }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port) + "/0"; }
    // The store options of a Redis-backed shared state on this server.
    store::SharedOptions shared_options() const {
        store::SharedOptions o;
        o.backend = "redis";
        o.redis_url = url();
        return o;
    }
    int cli(const std::string& args) const {
        return std::system(("redis-cli -p " + std::to_string(port) + " " + args + " >/dev/null").c_str());
    }
    RedisServer() { start(); }
    ~RedisServer() {
        stop();
        std::filesystem::remove_all(dir);
    }
};

}  // namespace ses::test

// Ends the calling test case with a warning where redis-server is not
// installed (`make deps` installs it; CI always has it).
#define SES_SKIP_WITHOUT_REDIS()                                                                \
    do {                                                                                        \
        if (!::ses::test::RedisServer::available()) {                                           \
            WARN("redis-server is not installed (apt-get install redis-server): test skipped"); \
            return;                                                                             \
        }                                                                                       \
    } while (0)
