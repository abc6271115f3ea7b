// quota_decision.cpp -- the cost of one warm-up decision including the LMDB
// commit: median and p99 of warmup::Engine::admit(), built-in rules and the
// shipped lua/warmup.lua, store sync periodic and full.
//
//   build/bench/quota_decision [SCRIPT [--script-only N]]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "util/clock.hpp"
#include "util/log.hpp"
#include "warmup/engine.hpp"

using namespace ses;

static void run(const char* label, const std::string& script, store::Sync sync, int n) {
    // the label names a case ("builtin/periodic"): no '/' in the directory's name, or the
    // parent "ses-bench-PIDbuiltin" would be left behind in /tmp
    std::string tag = label;
    std::replace(tag.begin(), tag.end(), '/', '-');
    auto dir = std::filesystem::temp_directory_path() / ("ses-bench-" + std::to_string(getpid()) + "-" + tag);
    std::filesystem::remove_all(dir);
    warmup::Settings s;
    store::Options so;
    so.path = dir.string();
    so.sync = sync;
    policy::Settings ps;
    auto env = store::Env::open(so);
    auto pol = script.empty() ? policy::Policy::open(ps, warmup::hook_defs())
                              : policy::Policy::from_source(script, "warmup.lua", ps, warmup::hook_defs());
    if (!env || !pol) {
        std::fprintf(stderr, "setup failed\n");
        return;
    }
    auto eng = warmup::Engine::open(s, *env, *pol);
    if (!eng) {
        std::fprintf(stderr, "%s\n", eng.error().what.c_str());
        return;
    }
    mail::Message m;
    m.env.mail_from = "news@example.com";
    m.env.rcpts = {"a@example.org"};
    m.feed_header("Subject", " hello");
    std::vector<double> us;
    us.reserve(n);
    for (int i = 0; i < n; ++i) {
        m.env.queue_id = "Q" + std::to_string(1000000 + i);
        auto t0 = std::chrono::steady_clock::now();
        auto d = (*eng)->admit(m, "example.com");
        auto t1 = std::chrono::steady_clock::now();
        if (!d) {
            std::fprintf(stderr, "%s\n", d.error().what.c_str());
            return;
        }
        us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("%-28s n=%d median %.1f us  p99 %.1f us\n", label, n, us[us.size() / 2], us[us.size() * 99 / 100]);
    eng->reset();
    std::filesystem::remove_all(dir);
}

int main(int argc, char** argv) {
    log::set_level(log::Level::warning);
    clock::set_override(*clock::parse_rfc3339("2026-11-23T10:00:00Z"));
    std::string script;
    if (argc > 1) {
        std::ifstream in(argv[1]);
        std::ostringstream ss;
        ss << in.rdbuf();
        script = ss.str();
    }
    // "--script-only N": only the script's case, N decisions (for a profile)
    const bool only = argc > 3 && std::string(argv[2]) == "--script-only";
    if (!only) run("builtin/periodic", "", store::Sync::periodic, 20000);
    if (!script.empty()) run("warmup.lua/periodic", script, store::Sync::periodic, only ? std::atoi(argv[3]) : 20000);
    if (!only) run("builtin/full", "", store::Sync::full, 300);
    return 0;
}
