// stats_fleet_test.cpp -- the statistics of a fleet: two hosts (each its own
// LMDB records) counting into one shared state (a third LMDB store standing
// for it, and a real redis-server when installed); a retried update never
// counts twice; stats() on any host shows the fleet's totals.
#include <catch2/catch.hpp>

#include "records/message_store.hpp"
#include "redis_fixture.hpp"
#include "temp_records.hpp"

using namespace ses;
using namespace ses::records;

namespace {

struct StatsHost : test::TempRecords {
    std::shared_ptr<MessageStore> fleet_ms;
    StatsHost(const char* name, std::shared_ptr<store::SharedState> shared) : TempRecords(name) {
        StoreSettings s;
        s.shared = std::move(shared);
        auto m = MessageStore::open(env, std::move(s));
        REQUIRE(m);
        fleet_ms = *m;
    }
    ~StatsHost() { fleet_ms.reset(); }
    Counters total(int32_t day) {
        Counters c{};
        REQUIRE(env->view([&](store::Txn& t) {
            for (auto& row : fleet_ms->stats(t, day, day))
                for (size_t i = 0; i < kCounters; ++i) c[i] += row.counters[i];
            return t.status();
        }));
        return c;
    }
};

MessageRecord record(const std::string& id, int64_t t) {
    MessageRecord m;
    m.id = id;
    m.identity = "example.com";
    m.request_time = t;
    RecipientRecord r;
    r.address = "x@gmail.com";
    r.state.request_time = t;
    r.state.send_status = send_status::accepted;
    m.recipients.push_back(r);
    return m;
}

void two_hosts_count_once(std::shared_ptr<store::SharedState> shared) {
    StatsHost a("stats-fleet-a", shared), b("stats-fleet-b", shared);
    const int64_t t = 1796311484;  // 2026-11-27
    const int32_t day = a.fleet_ms->day_of(t);
    // Host A's first write fails (a crash, a conflict) after add(): its
    // retry must count once in the fleet's totals.  (The shared counts go
    // at commit; a commit lost after them: stats_batch_test.cpp.)
    Status failed = a.env->update([&](store::Txn& txn) -> Status {
        REQUIRE(a.fleet_ms->add(txn, record("m1", t)));
        return internal_error("test: the transaction fails");
    });
    REQUIRE_FALSE(failed);
    REQUIRE(a.env->update([&](store::Txn& txn) { return a.fleet_ms->add(txn, record("m1", t)); }));
    REQUIRE(b.env->update([&](store::Txn& txn) { return b.fleet_ms->add(txn, record("m2", t)); }));
    Outcome sent;
    sent.kind = Outcome::Kind::sent;
    sent.time = t + 5;
    // The follower's batch fails after the outcome was applied, and is
    // applied again.
    for (bool fail : {true, false}) {
        Status st = b.env->update([&](store::Txn& txn) -> Status {
            auto ev = b.fleet_ms->apply(txn, "m2", "", sent);
            REQUIRE(ev);
            CHECK(ev->size() == 1);
            if (fail) return internal_error("test: the batch fails");
            return txn.status();
        });
        CHECK(bool(st) == !fail);
    }
    for (StatsHost* h : {&a, &b}) {
        Counters c = h->total(day);
        CHECK(c[requests] == 2);
        CHECK(c[accepted] == 2);
        CHECK(c[delivered] == 1);
    }
    REQUIRE(a.env->view([&](store::Txn& txn) {
        auto rows = a.fleet_ms->stats(txn, day, day);
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].identity == "example.com");
        CHECK(rows[0].mailbox_group == "gmail.com");
        CHECK_FALSE(rows[0].simulated);
        return txn.status();
    }));
}

}  // namespace

TEST_CASE("stats fleet: two hosts count once into one shared state (LMDB backend)", "[records][fleet]") {
    test::TempRecords shared_store("stats-fleet-shared");
    auto sh = store::open_shared_state(store::SharedOptions{}, shared_store.env);
    REQUIRE(sh);
    two_hosts_count_once(*sh);
}

TEST_CASE("stats fleet: two hosts count once into one shared state (Redis backend)", "[records][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    test::RedisServer redis;
    test::TempRecords unused("stats-fleet-unused");
    auto sh = store::open_shared_state(redis.shared_options(), unused.env);
    REQUIRE(sh);
    two_hosts_count_once(*sh);
}
