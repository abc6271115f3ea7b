// warmup_fleet_test.cpp -- three warm-up engines, each with its own LMDB
// store (three hosts), sharing one quota through a real redis-server
// (store/redis_state.hpp); skipped with a message without redis-server.
// Also the engine's shared-quota paths that need no Redis (the LMDB backend
// behind a spying decorator): refund when the local record does not commit,
// forced charge when the policy accepts over the quota.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "mta/adapter.hpp"
#include "redis_fixture.hpp"
#include "services/release_scheduler.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "util/clock.hpp"
#include "warmup/engine.hpp"
#include "warmup/hooks.hpp"
#include "warmup/timezone.hpp"

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

int64_t at(const char* t) { return *clock::parse_rfc3339(t); }

int32_t day(const char* t) { return TimeZone::load("UTC")->day_of(at(t)); }

const std::string kDomainKey = IdentityKey::domain("example.com").key();

struct FleetMta : mta::Adapter {
    std::vector<std::string> released;
    std::string_view name() const override { return "fake"; }
    Result<mta::Released> release(std::string_view qid) override {
        released.emplace_back(qid);
        return mta::Released::yes;
    }
};

// The LMDB backend, with a hook run after each charge (to change the
// identity under the engine's feet) and the refunds counted.
struct Spy : store::SharedState {
    std::shared_ptr<store::SharedState> in;
    std::function<void()> after_charge;
    std::atomic<int> refunds{0};
    Result<store::QuotaAnswer> charge(const std::vector<store::QuotaCharge>& k, int32_t d, uint64_t n,
                                      int64_t ttl) override {
        auto a = in->charge(k, d, n, ttl);
        if (after_charge) std::exchange(after_charge, nullptr)();
        return a;
    }
    Status refund(const std::vector<store::QuotaCharge>& k, int32_t d, uint64_t n) override {
        refunds++;
        return in->refund(k, d, n);
    }
    Result<uint64_t> used(std::string_view k, int32_t d) override { return in->used(k, d); }
    Result<std::optional<std::string>> suppression_get(std::string_view k) override { return in->suppression_get(k); }
    Status suppression_put(std::string_view k, std::string_view v) override { return in->suppression_put(k, v); }
    Result<bool> suppression_del(std::string_view k) override { return in->suppression_del(k); }
    Result<std::vector<std::pair<std::string, std::string>>> suppression_list(std::string_view p,
                                                                              size_t limit) override {
        return in->suppression_list(p, limit);
    }
    Result<bool> count(int32_t d, std::string_view name, std::string_view event) override {
        return in->count(d, name, event);
    }
    Result<std::map<std::string, uint64_t>> totals(int32_t d) override { return in->totals(d); }
    Result<store::SharedIdentity> identity_get(std::string_view k, int32_t d) override {
        return in->identity_get(k, d);
    }
    Result<bool> identity_put(std::string_view k, uint64_t version, std::string_view v) override {
        return in->identity_put(k, version, v);
    }
    Result<store::SharedDay> day_get(std::string_view k, int32_t d) override { return in->day_get(k, d); }
    Result<bool> feedback_add(std::string_view k, int32_t d, uint64_t b, uint64_t c, std::string_view event,
                              int64_t ttl) override {
        return in->feedback_add(k, d, b, c, event, ttl);
    }
    store::SharedHealth health() const override { return in->health(); }
    // The held-mail order; `order_down`: registrations fail, as with Redis
    // gone between the decision's charge and the hold's registration.
    std::atomic<bool> order_down{false};
    std::atomic<int> registered{0};
    Status held_register(const std::vector<std::string>& k, const store::HeldOrder& e) override {
        if (order_down) return internal_error("redis unreachable (test)");
        registered++;
        return in->held_register(k, e);
    }
    Status held_remove(const std::vector<std::string>& k, std::string_view m) override { return in->held_remove(k, m); }
    Result<store::QuotaAnswer> charge_in_order(const std::vector<store::QuotaCharge>& k, int32_t d, int64_t ttl,
                                               const store::HeldOrder& e, int64_t now) override {
        return in->charge_in_order(k, d, ttl, e, now);
    }
    Result<std::vector<bool>> count_many(const std::vector<store::CountOp>& ops) override {
        return in->count_many(ops);
    }
};

struct SpyHost {
    std::filesystem::path dir = test::temp_path("fleet-spy");
    std::shared_ptr<Spy> spy = std::make_shared<Spy>();
    std::unique_ptr<Engine> engine;

    // `o`: the backend behind the spy (default: this host's LMDB).
    explicit SpyHost(const char* script, const store::SharedOptions& o = {}) {
        store::Options so;
        so.path = dir.string();
        auto env = store::Env::open(so);
        REQUIRE(env);
        auto p = policy::Policy::from_source(script, "test.lua", policy::Settings{}, hook_defs());
        REQUIRE(p);
        auto sh = store::open_shared_state(o, *env);
        REQUIRE(sh);
        spy->in = *sh;
        auto e = Engine::open(Settings{}, *env, *p, spy);
        REQUIRE(e);
        engine = std::move(*e);
    }
    ~SpyHost() {
        engine.reset();
        clock::set_override(std::nullopt);
        std::filesystem::remove_all(dir);
    }
};

// Decisions counted from several threads.
struct Tally {
    std::atomic<int> accepted{0}, held{0}, errors{0};
    void add(const Result<Decision>& d) {
        if (!d)
            errors++;
        else if (d->action == Decision::Action::accept)
            accepted++;
        else if (d->action == Decision::Action::hold)
            held++;
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
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    const char* script = "ses.on('daily_limit', function() return 300 end)";
    std::vector<std::unique_ptr<Host>> hosts;
    for (int i = 0; i < 3; ++i) hosts.push_back(std::make_unique<Host>(redis.url(), script));
    Tally tally;
    std::atomic<int> qid{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 20; ++t)
        ts.emplace_back([&, t] {
            Engine& e = *hosts[static_cast<size_t>(t % 3)]->engine;
            for (int i = 0; i < 20; ++i) {
                tally.add(e.admit(message(qid++), "example.com"));
            }
        });
    for (auto& t : ts) t.join();
    CHECK(tally.errors == 0);
    CHECK(tally.accepted == 300);
    CHECK(tally.held == 100);
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

TEST_CASE("fleet: released held mail is charged in the shared quota", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    const char* script = "ses.on('daily_limit', function() return 5 end)";
    Host h0(redis.url(), script), h1(redis.url(), script);
    clock::set_override(at("2030-01-07T10:00:00Z"));
    int q = 0;
    for (int i = 0; i < 5; ++i)
        CHECK(h0.engine->admit(message(q++), "example.com")->action == Decision::Action::accept);
    for (int i = 0; i < 2; ++i) CHECK(h0.engine->admit(message(q++), "example.com")->action == Decision::Action::hold);

    // Day 2: the other host sends 4 of the fleet's 5; host 0 has used none
    // of its own, yet may release only one of its two held messages.
    clock::set_override(at("2030-01-08T10:00:01Z"));
    for (int i = 0; i < 4; ++i)
        CHECK(h1.engine->admit(message(q++), "example.com")->action == Decision::Action::accept);
    FleetMta mta;
    auto r = services::release_pass(*h0.engine, mta);
    clock::set_override(std::nullopt);
    REQUIRE(r);
    CHECK(r->released == 1);
    CHECK(mta.released.size() == 1);
    CHECK(*h0.engine->shared()->used(kDomainKey, day("2030-01-08T10:00:01Z")) == 5);
    CHECK(h0.engine->held()->size() == 1);  // waits for day 3
}

TEST_CASE("fleet: a shared charge whose local record does not commit is refunded", "[warmup][fleet]") {
    SpyHost host("ses.on('daily_limit', function() return 5 end)");
    clock::set_override(at("2030-01-07T10:00:00Z"));
    // Between the shared charge and the local transaction the identity
    // changes: that transaction aborts (nothing recorded) and the decision
    // is made again.
    host.spy->after_charge = [&] { REQUIRE(host.engine->set_level(IdentityKey::domain("example.com"), 2)); };
    auto d = host.engine->admit(message(1), "example.com");
    REQUIRE(d);
    CHECK(d->action == Decision::Action::accept);
    CHECK(host.spy->refunds == 1);
    // Charged once, not twice.
    CHECK(*host.spy->used(kDomainKey, day("2030-01-07T10:00:00Z")) == 1);
    CHECK(host.engine->counters(IdentityKey::domain("example.com"), day("2030-01-07T10:00:00Z"))->sent == 1);
}

TEST_CASE("fleet: mail the policy accepts over the quota is counted in the shared total", "[warmup][fleet]") {
    SpyHost host(R"(
ses.on('daily_limit', function() return 2 end)
ses.on('on_over_quota', function(m, id) return {action = 'accept'} end)
)");
    clock::set_override(at("2030-01-07T10:00:00Z"));
    for (int i = 0; i < 4; ++i) {
        auto d = host.engine->admit(message(i), "example.com");
        REQUIRE(d);
        CHECK(d->action == Decision::Action::accept);
    }
    CHECK(host.spy->refunds == 0);
    CHECK(*host.spy->used(kDomainKey, day("2030-01-07T10:00:00Z")) == 4);
}

namespace {

mail::Message message_from(const std::string& qid) {
    mail::Message m = message(0);
    m.env.queue_id = qid;
    return m;
}

}  // namespace

TEST_CASE("fleet: held mail is released oldest first across the hosts", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    const char* script = "ses.on('daily_limit', function() return 1 end)";
    Host a(redis.url(), script), b(redis.url(), script);
    // Day 1: the quota is used; host B holds at 10:00, host A at 10:05.
    clock::set_override(at("2030-01-07T09:00:00Z"));
    CHECK(a.engine->admit(message_from("A00001"), "example.com")->action == Decision::Action::accept);
    clock::set_override(at("2030-01-07T10:00:00Z"));
    CHECK(b.engine->admit(message_from("B00001"), "example.com")->action == Decision::Action::hold);
    clock::set_override(at("2030-01-07T10:05:00Z"));
    CHECK(a.engine->admit(message_from("A00002"), "example.com")->action == Decision::Action::hold);

    // Day 2, the quota fits one, both due: A's pass runs first and
    // releases nothing, its mail is younger than B's.
    clock::set_override(at("2030-01-08T10:06:00Z"));
    FleetMta mta_a, mta_b;
    auto ra = services::release_pass(*a.engine, mta_a);
    REQUIRE(ra);
    CHECK(ra->released == 0);
    CHECK(ra->deferred == 1);
    CHECK(mta_a.released.empty());
    clock::set_override(at("2030-01-08T10:07:00Z"));
    auto rb = services::release_pass(*b.engine, mta_b);
    REQUIRE(rb);
    CHECK(rb->released == 1);
    CHECK(mta_b.released == std::vector<std::string>{"B00001"});
    CHECK(*b.engine->shared()->used(kDomainKey, day("2030-01-08T10:07:00Z")) == 1);
    ra = services::release_pass(*a.engine, mta_a);
    REQUIRE(ra);
    CHECK(ra->released == 0);

    // Day 3: A's turn.
    clock::set_override(at("2030-01-09T11:00:00Z"));
    ra = services::release_pass(*a.engine, mta_a);
    clock::set_override(std::nullopt);
    REQUIRE(ra);
    CHECK(ra->released == 1);
    CHECK(mta_a.released == std::vector<std::string>{"A00002"});
    CHECK(a.engine->held()->empty());
    CHECK(b.engine->held()->empty());
}

TEST_CASE("fleet: held mail of a host that never comes back blocks only until its entry expires",
          "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    const char* script = "ses.on('daily_limit', function() return 1 end)";
    Host a(redis.url(), script);
    auto c = std::make_unique<Host>(redis.url(), script);
    clock::set_override(at("2030-01-07T09:00:00Z"));
    CHECK(a.engine->admit(message_from("A00001"), "example.com")->action == Decision::Action::accept);
    clock::set_override(at("2030-01-07T10:00:00Z"));
    CHECK(c->engine->admit(message_from("C00001"), "example.com")->action == Decision::Action::hold);
    clock::set_override(at("2030-01-07T10:05:00Z"));
    CHECK(a.engine->admit(message_from("A00002"), "example.com")->action == Decision::Action::hold);
    c.reset();  // host C dies with its mail held

    // Day 2 10:06: C's entry (due 10:00, kept until a few release intervals
    // later) still comes first.
    FleetMta mta;
    clock::set_override(at("2030-01-08T10:06:00Z"));
    auto r = services::release_pass(*a.engine, mta);
    REQUIRE(r);
    CHECK(r->released == 0);
    CHECK(r->deferred == 1);
    // Day 3: C's entry expired long ago (nobody refreshed it): A goes.
    clock::set_override(at("2030-01-09T00:30:00Z"));
    r = services::release_pass(*a.engine, mta);
    clock::set_override(std::nullopt);
    REQUIRE(r);
    CHECK(r->released == 1);
    CHECK(mta.released == std::vector<std::string>{"A00002"});
}

TEST_CASE("fleet: a hold whose registration in the fleet's order fails still holds", "[warmup][fleet]") {
    SpyHost host("ses.on('daily_limit', function() return 1 end)");
    clock::set_override(at("2030-01-07T10:00:00Z"));
    REQUIRE(host.engine->admit(message(1), "example.com")->action == Decision::Action::accept);
    host.spy->order_down = true;  // the shared state fails after the decision's charge
    for (int i = 2; i < 4; ++i) {
        auto d = host.engine->admit(message(i), "example.com");
        REQUIRE(d);
        CHECK(d->action == Decision::Action::hold);
    }
    CHECK(host.engine->held()->size() == 2);  // safe in the hold queue
    CHECK(host.spy->registered == 0);
    host.spy->order_down = false;
    REQUIRE(host.engine->admit(message(4), "example.com")->action == Decision::Action::hold);
    CHECK(host.spy->registered == 1);
    CHECK(host.engine->held()->size() == 3);
}

TEST_CASE("fleet: a registration lost at hold heals at the owner's next release pass", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    const char* script = "ses.on('daily_limit', function() return 1 end)";
    Host a(redis.url(), script);
    SpyHost b(script, redis.shared_options());
    clock::set_override(at("2030-01-07T09:00:00Z"));
    CHECK(a.engine->admit(message_from("A00001"), "example.com")->action == Decision::Action::accept);
    b.spy->order_down = true;  // B's hold is not registered
    clock::set_override(at("2030-01-07T10:00:00Z"));
    CHECK(b.engine->admit(message_from("B00001"), "example.com")->action == Decision::Action::hold);
    b.spy->order_down = false;
    clock::set_override(at("2030-01-07T10:05:00Z"));
    CHECK(a.engine->admit(message_from("A00002"), "example.com")->action == Decision::Action::hold);

    // Day 2: new mail is not ordered behind held mail: it takes the day.
    clock::set_override(at("2030-01-08T00:30:00Z"));
    CHECK(a.engine->admit(message_from("A00003"), "example.com")->action == Decision::Action::accept);
    // B's pass finds no room, and its ordered charge registers the message.
    FleetMta mta_a, mta_b;
    clock::set_override(at("2030-01-08T10:06:00Z"));
    auto r = services::release_pass(*b.engine, mta_b);
    REQUIRE(r);
    CHECK(r->released == 0);
    CHECK(r->deferred == 1);

    // Day 3: A's pass runs first, and B's older message comes first.
    clock::set_override(at("2030-01-09T00:01:00Z"));
    r = services::release_pass(*a.engine, mta_a);
    REQUIRE(r);
    CHECK(r->released == 0);
    clock::set_override(at("2030-01-09T00:02:00Z"));
    r = services::release_pass(*b.engine, mta_b);
    REQUIRE(r);
    CHECK(mta_b.released == std::vector<std::string>{"B00001"});
    CHECK(mta_a.released.empty());
}

namespace {

// Level N allows 30 * N a day; a day with at least 30 sent and fewer than 5
// bounces earns the next level.
constexpr const char* kLevelScript = R"(
ses.on('daily_limit', function(id) return 30 * id.level end)
ses.on('should_upgrade', function(id, y) return y.sent >= 30 and y.bounced < 5 end)
)";

const IdentityKey kDomain = IdentityKey::domain("example.com");

int admit_n(Engine& e, int n, int& q, Decision::Action want) {
    int got = 0;
    for (int i = 0; i < n; ++i) {
        auto d = e.admit(message(q++), "example.com");
        REQUIRE(d);
        if (d->action == want) ++got;
    }
    return got;
}

int upgrades_in_history(Engine& e) {
    auto s = e.status(kDomain);
    REQUIRE(s);
    int n = 0;
    for (const auto& c : s->history) n += c.reason == "upgrade";
    return n;
}

}  // namespace

TEST_CASE("fleet: hosts that each sent a third of the day agree on the next level", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    std::vector<std::unique_ptr<Host>> hosts;
    for (int i = 0; i < 3; ++i) hosts.push_back(std::make_unique<Host>(redis.url(), kLevelScript));
    int q = 0;
    clock::set_override(at("2030-01-07T10:00:00Z"));
    for (auto& h : hosts) CHECK(admit_n(*h->engine, 10, q, Decision::Action::accept) == 10);

    // Day 2: the fleet sent 30, each host 10: every host is at level 2, and
    // the fleet's 60 is one limit, not three different ones.
    clock::set_override(at("2030-01-08T10:00:00Z"));
    for (auto& h : hosts) {
        auto s = h->engine->status(kDomain);
        REQUIRE(s);
        CHECK(s->state.level == 2);
        CHECK(s->limit.total == 60);
    }
    int accepted = 0;
    for (auto& h : hosts) accepted += admit_n(*h->engine, 25, q, Decision::Action::accept);
    CHECK(accepted == 60);
    for (auto& h : hosts) {
        auto s = h->engine->status(kDomain);
        REQUIRE(s);
        CHECK(s->fleet);
        CHECK(s->usage.sent == 60);  // the fleet's, on every host
        CHECK(s->remaining == 0);
    }

    // Day 2's bounces are counted on one host; day 3 no host upgrades.
    REQUIRE(hosts[1]->engine->add_feedback(kDomain, 5, 0));
    clock::set_override(at("2030-01-09T10:00:00Z"));
    for (auto& h : hosts) {
        auto s = h->engine->status(kDomain);
        REQUIRE(s);
        CHECK(s->state.level == 2);
    }
    clock::set_override(std::nullopt);
}

TEST_CASE("fleet: pause on one host holds the identity's mail on the others", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    Host a(redis.url(), kLevelScript), b(redis.url(), kLevelScript), c(redis.url(), kLevelScript);
    clock::set_override(at("2030-01-07T10:00:00Z"));
    int q = 0;
    CHECK(admit_n(*b.engine, 1, q, Decision::Action::accept) == 1);
    REQUIRE(a.engine->set_paused(kDomain, true));
    CHECK(admit_n(*b.engine, 2, q, Decision::Action::hold) == 2);
    CHECK(c.engine->status(kDomain)->state.paused);
    REQUIRE(c.engine->set_paused(kDomain, false));
    CHECK(admit_n(*b.engine, 2, q, Decision::Action::accept) == 2);

    // set-level through one host is the fleet's level.
    REQUIRE(a.engine->set_level(kDomain, 3));
    CHECK(b.engine->status(kDomain)->limit.total == 90);
    CHECK(c.engine->status(kDomain)->state.level == 3);
    clock::set_override(std::nullopt);
}

TEST_CASE("fleet: two hosts rolling the same day concurrently upgrade once", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    Host a(redis.url(), kLevelScript), b(redis.url(), kLevelScript);
    clock::set_override(at("2030-01-07T10:00:00Z"));
    int q = 0;
    CHECK(admit_n(*a.engine, 30, q, Decision::Action::accept) == 30);
    auto before = a.engine->shared()->identity_get(kDomain.key(), day("2030-01-07T10:00:00Z"));
    REQUIRE(before);

    clock::set_override(at("2030-01-08T10:00:00Z"));
    std::atomic<int> qid{1000}, errors{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&, t] {
            Engine& e = t % 2 ? *b.engine : *a.engine;
            for (int i = 0; i < 3; ++i)
                if (!e.admit(message(qid++), "example.com")) errors++;
        });
    for (auto& t : ts) t.join();
    CHECK(errors == 0);
    auto after = a.engine->shared()->identity_get(kDomain.key(), day("2030-01-08T10:00:00Z"));
    REQUIRE(after);
    CHECK(after->version == before->version + 1);  // one roll written, not one per host
    CHECK(a.engine->status(kDomain)->state.level == 2);
    CHECK(upgrades_in_history(*a.engine) + upgrades_in_history(*b.engine) == 1);
    CHECK(after->day.sent == 24);
    clock::set_override(std::nullopt);
}

TEST_CASE("fleet: a quota group's cap is exact across hosts", "[warmup][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    RedisServer redis;
    const char* script =
        "ses.on('daily_limit', function() return {total = 100, groups = {gmail = {limit = 10, domains = "
        "{'gmail.com'}}}} end)";
    std::vector<std::unique_ptr<Host>> hosts;
    for (int i = 0; i < 3; ++i) hosts.push_back(std::make_unique<Host>(redis.url(), script));
    clock::set_override(at("2030-01-07T10:00:00Z"));
    Tally tally;
    std::atomic<int> qid{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 6; ++t)
        ts.emplace_back([&, t] {
            Engine& e = *hosts[static_cast<size_t>(t % 3)]->engine;
            for (int i = 0; i < 3; ++i) {
                mail::Message m = message(qid++);
                m.env.rcpts = {"x@gmail.com"};
                tally.add(e.admit(m, "example.com"));
            }
        });
    for (auto& t : ts) t.join();
    CHECK(tally.errors == 0);
    CHECK(tally.accepted == 10);  // each host alone would have let 10 through
    CHECK(tally.held == 8);
    // The group is full, the total is not: other domains still flow.
    int q = 500;
    CHECK(admit_n(*hosts[2]->engine, 2, q, Decision::Action::accept) == 2);
    CHECK(*hosts[0]->engine->shared()->used(kDomainKey, day("2030-01-07T10:00:00Z")) == 12);
    clock::set_override(std::nullopt);
}
