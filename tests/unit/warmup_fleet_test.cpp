// warmup_fleet_test.cpp -- three warm-up engines, each with its own LMDB
// store (three hosts), sharing one quota through a real redis-server
// (store/redis_state.hpp); skipped with a message without redis-server.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "redis_fixture.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "util/clock.hpp"
#include "warmup/engine.hpp"
#include "warmup/hooks.hpp"

using namespace ses;
using namespace ses::warmup;
using ses::test::RedisServer;

namespace {

struct Host {
    std::filesystem::path dir = test::temp_path("fleet");
    std::unique_ptr<Engine> engine;

    Host(const std::string& url, const char* script) {
        store::Options so;
        so.path = dir.string();
        auto env = store::Env::open(so);
        REQUIRE(env);
        auto p = policy::Policy::from_source(script, "test.lua", policy::Settings{}, hook_defs());
        REQUIRE(p);
        store::SharedOptions o;
        o.backend = "redis";
        o.redis_url = url;
        o.redis_timeout_ms = 500;
        auto sh = store::open_shared_state(o, *env);
        REQUIRE(sh);
        auto e = Engine::open(Settings{}, *env, *p, *sh);
        REQUIRE(e);
        engine = std::move(*e);
    }
    ~Host() {
        engine.reset();
        std::filesystem::remove_all(dir);
    }
};

mail::Message message(int n) {
    mail::Message m;
    m.env.mail_from = "a@example.com";
    m.env.rcpts = {"x@example.org"};
    m.env.queue_id = "Q" + std::to_string(100000 + n);
    return m;
}

}  // namespace

TEST_CASE("fleet: three hosts sharing a limit of 300 admit exactly 300", "[warmup][fleet][redis]") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: fleet test skipped");
        return;
    }
    RedisServer redis;
    const char* script = "ses.on('daily_limit', function() return 300 end)";
    std::vector<std::unique_ptr<Host>> hosts;
    for (int i = 0; i < 3; ++i) hosts.push_back(std::make_unique<Host>(redis.url(), script));
    std::atomic<int> accepted{0}, held{0}, errors{0}, qid{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 20; ++t)
        ts.emplace_back([&, t] {
            Engine& e = *hosts[static_cast<size_t>(t % 3)]->engine;
            for (int i = 0; i < 20; ++i) {
                auto d = e.admit(message(qid++), "example.com");
                if (!d)
                    errors++;
                else if (d->action == Decision::Action::accept)
                    accepted++;
                else if (d->action == Decision::Action::hold)
                    held++;
            }
        });
    for (auto& t : ts) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 300);
    CHECK(held == 100);
    size_t held_records = 0;
    for (auto& h : hosts) held_records += h->engine->held()->size();
    CHECK(held_records == 100);  // each host holds its own

    // Redis gone: an error (the milter answers on_error), nothing charged.
    redis.stop();
    auto d = hosts[0]->engine->admit(message(9000), "other.example");
    CHECK_FALSE(d);
    redis.start();  // empty: a new day for the counters, scripts reloaded
    bool back = false;
    for (int i = 0; i < 60 && !back; ++i) {
        auto r = hosts[1]->engine->admit(message(9001 + i), "other.example");
        back = r && r->action == Decision::Action::accept;
        if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(back);
}
