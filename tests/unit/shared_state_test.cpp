// shared_state_test.cpp -- the shared-state interface (store/shared_state.hpp)
// against both backends: LMDB, and a real redis-server started here on
// 127.0.0.1 with a free port and a private directory (the Redis cases are
// skipped, with a message, when /usr/bin/redis-server is absent).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "store/env.hpp"
#include "store/redis_state.hpp"
#include "store/shared_state.hpp"
#include "redis_fixture.hpp"

using namespace ses;
using namespace ses::store;
using ses::test::RedisServer;
using ses::test::temp_path;

namespace {

struct Backend {
    std::filesystem::path dir;
    std::unique_ptr<RedisServer> redis;
    std::shared_ptr<SharedState> state;

    explicit Backend(const std::string& kind) {
        SharedOptions o;
        o.backend = kind;
        std::shared_ptr<Env> env;
        if (kind == "lmdb") {
            dir = temp_path("lmdb");
            Options eo;
            eo.path = dir.string();
            eo.map_size = 1 << 20;
            auto e = Env::open(eo);
            REQUIRE(e);
            env = *e;
        } else {
            redis = std::make_unique<RedisServer>();
            o.redis_url = redis->url();
            o.redis_timeout_ms = 500;
        }
        auto s = open_shared_state(o, env);
        INFO((s ? "" : s.error().what));
        REQUIRE(s);
        state = *s;
    }
    ~Backend() {
        state.reset();
        if (!dir.empty()) std::filesystem::remove_all(dir);
    }
};

std::vector<std::string> backends() {
    if (RedisServer::available()) return {"lmdb", "redis"};
    WARN("redis-server is not installed (apt-get install redis-server): the Redis backend is not tested");
    return {"lmdb"};
}

}  // namespace

TEST_CASE("shared state: the quota is checked and charged in one step", "[shared]") {
    for (const auto& kind : backends()) {
        SECTION(kind) {
            Backend b(kind);
            SharedState& s = *b.state;
            std::vector<QuotaCharge> k{{"d:example.com", 10}};
            for (int i = 0; i < 3; ++i) {
                auto a = s.charge(k, 100, 3, 3600);
                REQUIRE(a);
                CHECK(a->charged);
                CHECK(a->used == uint64_t(3 * i));
            }
            auto a = s.charge(k, 100, 3, 3600);
            REQUIRE(a);
            CHECK_FALSE(a->charged);
            CHECK(a->over == 0);
            CHECK(a->used == 9);
            REQUIRE(s.charge(k, 100, 1, 3600)->charged);
            CHECK(*s.used("d:example.com", 100) == 10);
            CHECK(*s.used("d:example.com", 101) == 0);  // another day

            // Two identities: charged to both or neither.
            std::vector<QuotaCharge> two{{"d:a.example", 100}, {"i:192.0.2.1", 5}};
            REQUIRE(s.charge(two, 100, 5, 3600)->charged);
            auto b2 = s.charge(two, 100, 1, 3600);
            REQUIRE(b2);
            CHECK_FALSE(b2->charged);
            CHECK(b2->over == 1);
            CHECK(*s.used("d:a.example", 100) == 5);

            REQUIRE(s.refund(two, 100, 2));
            CHECK(*s.used("d:a.example", 100) == 3);
            CHECK(*s.used("i:192.0.2.1", 100) == 3);
        }
    }
}

TEST_CASE("shared state: concurrent charges never overshoot the limit", "[shared]") {
    for (const auto& kind : backends()) {
        SECTION(kind) {
            Backend b(kind);
            std::atomic<int> charged{0}, failed{0};
            std::vector<std::thread> th;
            for (int t = 0; t < 8; ++t)
                th.emplace_back([&] {
                    for (int i = 0; i < 60; ++i) {
                        auto a = b.state->charge({{"d:busy.example", 300}}, 7, 1, 3600);
                        if (!a)
                            ++failed;
                        else if (a->charged)
                            ++charged;
                    }
                });
            for (auto& t : th) t.join();
            CHECK(failed == 0);
            CHECK(charged == 300);
            CHECK(*b.state->used("d:busy.example", 7) == 300);
        }
    }
}

TEST_CASE("shared state: suppression entries", "[shared]") {
    for (const auto& kind : backends()) {
        SECTION(kind) {
            Backend b(kind);
            SharedState& s = *b.state;
            CHECK_FALSE(*s.suppression_get("bob@example.com"));
            REQUIRE(s.suppression_put("bob@example.com", std::string("v1\0x", 4)));
            REQUIRE(s.suppression_put("bob@example.com\x01scope", "v2"));
            REQUIRE(s.suppression_put("carol@example.com", "v3"));
            auto g = s.suppression_get("bob@example.com");
            REQUIRE(g);
            REQUIRE(*g);
            CHECK(**g == std::string("v1\0x", 4));
            auto l = s.suppression_list("bob@", 10);
            REQUIRE(l);
            REQUIRE(l->size() == 2);
            CHECK((*l)[0].first == "bob@example.com");
            CHECK((*l)[1].second == "v2");
            CHECK(s.suppression_list("", 2)->size() == 2);
            CHECK(*s.suppression_del("bob@example.com"));
            CHECK_FALSE(*s.suppression_del("bob@example.com"));
            CHECK_FALSE(*s.suppression_get("bob@example.com"));
            CHECK(s.suppression_list("", 10)->size() == 2);
        }
    }
}

TEST_CASE("shared state: a counter counts each event once", "[shared]") {
    for (const auto& kind : backends()) {
        SECTION(kind) {
            Backend b(kind);
            SharedState& s = *b.state;
            CHECK(*s.count(20000, "delivered", "m1/a@x/delivered"));
            CHECK_FALSE(*s.count(20000, "delivered", "m1/a@x/delivered"));  // a retried update
            CHECK(*s.count(20000, "delivered", "m1/b@x/delivered"));
            CHECK(*s.count(20000, "bounced", "m2/a@x/bounced"));
            CHECK(*s.count(20001, "delivered", "m1/a@x/delivered"));
            auto t = s.totals(20000);
            REQUIRE(t);
            CHECK(t->size() == 2);
            CHECK((*t)["delivered"] == 2);
            CHECK((*t)["bounced"] == 1);
            CHECK(s.totals(19999)->empty());
        }
    }
}

TEST_CASE("redis: scripts are loaded again after SCRIPT FLUSH (NOSCRIPT)", "[shared][redis]") {
    if (!RedisServer::available()) return;
    Backend b("redis");
    REQUIRE(b.state->charge({{"k", 10}}, 1, 1, 60)->charged);
    REQUIRE(b.redis->cli("SCRIPT FLUSH") == 0);
    auto a = b.state->charge({{"k", 10}}, 1, 1, 60);
    INFO((a ? "" : a.error().what));
    REQUIRE(a);
    CHECK(a->charged);
    CHECK(*b.state->used("k", 1) == 2);
}

TEST_CASE("redis: day counters expire", "[shared][redis]") {
    if (!RedisServer::available()) return;
    Backend b("redis");
    REQUIRE(b.state->charge({{"k", 10}}, 1, 1, 1)->charged);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    CHECK(*b.state->used("k", 1) == 0);
}

TEST_CASE("redis: an outage fails calls fast, is counted once and heals", "[shared][redis]") {
    if (!RedisServer::available()) return;
    Backend b("redis");
    REQUIRE(b.state->charge({{"k", 10}}, 1, 1, 60)->charged);
    CHECK(b.state->health().up);
    b.redis->stop();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) CHECK_FALSE(b.state->charge({{"k", 10}}, 1, 1, 60));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(ms < 2000);  // the backoff answers without waiting for a connect each time
    auto h = b.state->health();
    CHECK_FALSE(h.up);
    CHECK(h.outages == 1);
    CHECK(h.errors >= 20);
    b.redis->start();  // same port; an empty server without the scripts
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
        auto a = b.state->charge({{"k", 10}}, 1, 1, 60);
        back = a && a->charged;
        if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(back);
    CHECK(b.state->health().up);
    CHECK(b.state->health().outages == 1);
}

TEST_CASE("redis_url forms", "[shared]") {
    auto a = parse_redis_url("redis://:s3cret@10.0.0.5:6380/2");
    REQUIRE(a);
    CHECK(a->host == "10.0.0.5");
    CHECK(a->port == 6380);
    CHECK(a->db == 2);
    CHECK(a->password == "s3cret");
    a = parse_redis_url("redis://localhost");
    REQUIRE(a);
    CHECK(a->port == 6379);
    CHECK(a->db == 0);
    a = parse_redis_url("redis://[::1]:7000/1");
    REQUIRE(a);
    CHECK(a->host == "::1");
    CHECK(a->port == 7000);
    a = parse_redis_url("unix:/run/redis/redis.sock?db=3&password=pw");
    REQUIRE(a);
    CHECK(a->unix_path == "/run/redis/redis.sock");
    CHECK(a->db == 3);
    CHECK(a->password == "pw");
    CHECK_FALSE(parse_redis_url("http://x"));
    CHECK_FALSE(parse_redis_url("redis://host:notaport"));
    CHECK_FALSE(parse_redis_url("unix:relative"));
    CHECK_FALSE(parse_redis_url("redis://:pw@"));
}

TEST_CASE("shared state: the held-mail order (LMDB: the plain charge)", "[shared]") {
    Backend b("lmdb");
    SharedState& s = *b.state;
    std::vector<QuotaCharge> k{{"d:example.com", 2}};
    // One host: no order is kept, so an older registration blocks nothing.
    REQUIRE(s.held_register({"d:example.com"}, HeldOrder{"n1|OLD", 100, 100, 2, 10000}));
    auto a = s.charge_in_order(k, 7, 3600, HeldOrder{"n2|NEW", 200, 200, 2, 10000}, 300);
    REQUIRE(a);
    CHECK(a->charged);
    CHECK(*s.used("d:example.com", 7) == 2);
    CHECK(s.held_remove({"d:example.com"}, "n1|OLD"));
}

TEST_CASE("redis: the held-mail order: older due mail first, expired entries pruned", "[shared][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    Backend b("redis");
    SharedState& s = *b.state;
    const std::vector<std::string> ids{"d:example.com"};
    std::vector<QuotaCharge> k{{"d:example.com", 5}};
    const int64_t now = 1000;
    // Held earlier elsewhere: 3 recipients, due; 1 recipient, not due yet;
    // 9 recipients, expired.
    REQUIRE(s.held_register(ids, HeldOrder{"a|OLD", 100, 500, 3, 5000}));
    REQUIRE(s.held_register(ids, HeldOrder{"a|LATER", 110, 2000, 1, 5000}));
    REQUIRE(s.held_register(ids, HeldOrder{"c|DEAD", 90, 500, 9, 999}));
    // 3 older + 3 > 5: waits, charged nothing, registered.
    HeldOrder mine{"b|MINE", 200, 600, 3, 5000};
    auto a = s.charge_in_order(k, 7, 3600, mine, now);
    REQUIRE(a);
    CHECK_FALSE(a->charged);
    CHECK(a->over == 0);
    CHECK(*s.used("d:example.com", 7) == 0);
    // Same time, tie broken by the member: "a|TIE" < "b|MINE" goes first.
    HeldOrder tie{"a|TIE", 200, 600, 2, 5000};
    REQUIRE(s.held_remove(ids, "a|OLD"));
    auto t = s.charge_in_order(k, 7, 3600, tie, now);
    REQUIRE(t);
    CHECK(t->charged);  // older: only the expired one (pruned) and the one not due
    CHECK(*s.used("d:example.com", 7) == 2);
    // Now: 2 used + 3 = 5 fits; the not-yet-due older one does not block.
    a = s.charge_in_order(k, 7, 3600, mine, now);
    REQUIRE(a);
    CHECK(a->charged);
    CHECK(*s.used("d:example.com", 7) == 5);
    // Charged entries left the order; the expired one was pruned; the
    // not-due one stays.
    CHECK(b.redis->cli("ZSCORE ses:h:d:example.com c\\|DEAD | grep -q .") != 0);
    CHECK(b.redis->cli("ZSCORE ses:h:d:example.com b\\|MINE | grep -q .") != 0);
    CHECK(b.redis->cli("ZSCORE ses:h:d:example.com a\\|LATER | grep -q .") == 0);
    CHECK(b.redis->cli("ZCARD ses:h:d:example.com | grep -qx 1") == 0);
    // Registration is idempotent (no second entry, refreshed value).
    REQUIRE(s.held_register(ids, HeldOrder{"a|LATER", 110, 2000, 1, 6000}));
    CHECK(b.redis->cli("ZCARD ses:h:d:example.com | grep -qx 1") == 0);
    CHECK(b.redis->cli("HGET ses:hd:d:example.com a\\|LATER | grep -qx '1 2000 6000'") == 0);
}
