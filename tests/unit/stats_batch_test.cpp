// stats_batch_test.cpp -- the fleet's statistics counters in one call per
// write transaction: SharedState::count_many() against both backends, and
// MessageStore sending a transaction's shared counts at once, before its
// commit (store::PreCommit).  Round trips are measured on a real
// redis-server (INFO commandstats); the Redis cases are skipped, with a
// message, when /usr/bin/redis-server is absent.
#include <catch2/catch.hpp>

#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "records/message_store.hpp"
#include "redis_fixture.hpp"
#include "store/env.hpp"
#include "store/schema.hpp"
#include "store/shared_state.hpp"
#include "temp_records.hpp"

using namespace ses;
using namespace ses::records;
using ses::test::RedisServer;

namespace {

// Calls per command since the server started (INFO commandstats), without
// the INFO calls that read them.
std::map<std::string, uint64_t> command_calls(const RedisServer& r) {
    std::map<std::string, uint64_t> out;
    std::string cmd = "redis-cli -p " + std::to_string(r.port) + " INFO commandstats";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    char line[512];
    while (std::fgets(line, sizeof line, p)) {
        std::string l(line);
        if (!l.starts_with("cmdstat_")) continue;
        size_t colon = l.find(':'), calls = l.find("calls=");
        if (colon == std::string::npos || calls == std::string::npos) continue;
        std::string name = l.substr(8, colon - 8);
        if (name != "info") out[name] = std::stoull(l.substr(calls + 6));
    }
    ::pclose(p);
    return out;
}

// The commands that ran between two readings, by name.  commandstats counts
// the commands a script runs too: the count script's are SADD, HINCRBY and
// EXPIRE; every other command is a round trip of its own.
std::map<std::string, uint64_t> delta(const std::map<std::string, uint64_t>& before,
                                      const std::map<std::string, uint64_t>& after) {
    std::map<std::string, uint64_t> d;
    for (const auto& [k, v] : after) {
        auto it = before.find(k);
        uint64_t was = it == before.end() ? 0 : it->second;
        if (v != was) d[k] = v - was;
    }
    return d;
}

uint64_t round_trips(const std::map<std::string, uint64_t>& d) {
    uint64_t n = 0;
    for (const auto& [k, v] : d)
        if (k != "sadd" && k != "hincrby" && k != "expire") n += v;
    return n;
}

struct Shared {
    std::unique_ptr<RedisServer> redis;
    test::TempRecords lmdb{"stats-batch-shared"};
    std::shared_ptr<store::SharedState> state;
    explicit Shared(const std::string& kind) {
        store::SharedOptions o;
        if (kind == "redis") {
            redis = std::make_unique<RedisServer>();
            o = redis->shared_options();
            o.redis_timeout_ms = 500;
        }
        auto s = store::open_shared_state(o, lmdb.env);
        REQUIRE(s);
        state = *s;
    }
    ~Shared() { state.reset(); }
};

std::vector<std::string> backends() {
    if (RedisServer::available()) return {"lmdb", "redis"};
    WARN("redis-server is not installed (apt-get install redis-server): the Redis backend is not tested");
    return {"lmdb"};
}

// One host: its own LMDB records, counting into `shared`; `local` reads the
// same store's own counters (no shared state).
struct Host : test::TempRecords {
    std::shared_ptr<MessageStore> fleet, local;
    Host(const char* name, std::shared_ptr<store::SharedState> shared) : TempRecords(name) {
        StoreSettings s;
        s.shared = std::move(shared);
        fleet = *MessageStore::open(env, std::move(s));
        local = *MessageStore::open(env, {});
    }
    ~Host() {
        fleet.reset();
        local.reset();
    }
    Counters total(MessageStore& m, int32_t day) {
        Counters c{};
        REQUIRE(env->view([&](store::Txn& t) {
            for (auto& row : m.stats(t, day, day))
                for (size_t i = 0; i < kCounters; ++i) c[i] += row.counters[i];
            return t.status();
        }));
        return c;
    }
};

constexpr int64_t kT = 1796311484;  // 2026-11-27

MessageRecord fifty(const std::string& id) {
    MessageRecord m;
    m.id = id;
    m.identity = "example.com";
    m.request_time = kT;
    for (int i = 0; i < 50; ++i) {
        RecipientRecord r;
        r.address = "r" + std::to_string(i) + (i % 2 ? "@gmail.com" : "@example.org");
        r.state.request_time = kT;
        r.state.send_status = send_status::accepted;
        m.recipients.push_back(r);
    }
    return m;
}

Outcome sent_at(int64_t t) {
    Outcome o;
    o.kind = Outcome::Kind::sent;
    o.time = t;
    return o;
}

}  // namespace

TEST_CASE("shared state: count_many counts each event once, in one step", "[shared]") {
    for (const auto& kind : backends()) {
        SECTION(kind) {
            Shared sh(kind);
            store::SharedState& s = *sh.state;
            CHECK(s.count_many({})->empty());
            std::vector<store::CountOp> ops{
                {20000, "delivered", "m1/a", 1}, {20000, "delivered", "m1/b", 1},
                {20000, "delivered", "m1/a", 1},                                   // the same event again in one call
                {20000, "requests", "m1/*", 50}, {20001, "delivered", "m1/a", 1},  // another day: another event
            };
            auto r = s.count_many(ops);
            INFO((r ? "" : r.error().what));
            REQUIRE(r);
            CHECK(*r == std::vector<bool>{true, true, false, true, true});
            // A retried update counts nothing twice.
            CHECK(*s.count_many(ops) == std::vector<bool>{false, false, false, false, false});
            // count() and count_many() share their events and counters.
            CHECK_FALSE(*s.count(20000, "delivered", "m1/b"));
            CHECK(*s.count(20000, "delivered", "m1/c"));
            CHECK(*s.count_many({{20000, "delivered", "m1/c", 1}, {20000, "delivered", "m1/d", 1}}) ==
                  std::vector<bool>{false, true});
            auto t = s.totals(20000);
            REQUIRE(t);
            CHECK(*t == std::map<std::string, uint64_t>{{"delivered", 4}, {"requests", 50}});
            CHECK(*s.totals(20001) == std::map<std::string, uint64_t>{{"delivered", 1}});
        }
    }
}

TEST_CASE("redis: count_many keeps the event and counter expiry of count()", "[shared][redis]") {
    if (!RedisServer::available()) return;
    Shared sh("redis");
    REQUIRE(sh.state->count_many({{20000, "delivered", "m1/a", 1}, {20001, "delivered", "m1/a", 1}}));
    for (const char* key : {"ses:e:20000", "ses:c:20000", "ses:e:20001", "ses:c:20001"}) {
        std::string cmd = "redis-cli -p " + std::to_string(sh.redis->port) + " TTL " + key;
        FILE* p = ::popen(cmd.c_str(), "r");
        REQUIRE(p);
        char buf[64] = {};
        REQUIRE(std::fgets(buf, sizeof buf, p));
        ::pclose(p);
        long ttl = std::stol(buf);
        INFO(key << " ttl " << ttl);
        CHECK(ttl > (std::string(key).find(":e:") != std::string::npos ? 7 * 86400 : 399 * 86400));
    }
}

TEST_CASE("stats batch: a message to 50 recipients counts in one Redis call; a retry counts nothing twice",
          "[records][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    Shared sh("redis");
    Host a("stats-batch-a", sh.state);
    const int32_t day = a.fleet->day_of(kT);
    // The first call loads the script: measure from the second message on.
    REQUIRE(a.env->update([&](store::Txn& txn) { return a.fleet->add(txn, fifty("m0")); }));
    auto before = command_calls(*sh.redis);
    REQUIRE(a.env->update([&](store::Txn& txn) { return a.fleet->add(txn, fifty("m1")); }));
    auto after = command_calls(*sh.redis);
    auto d = delta(before, after);
    // 100 counters (50 RequestCount, 50 AcceptedCount): one script call.
    CHECK(d["evalsha"] == 1);
    CHECK(round_trips(d) == 1);
    CHECK(d["hincrby"] == 100);

    // The follower's batch: every recipient of both messages delivered, in
    // one transaction, one call.
    before = after;
    REQUIRE(a.env->update([&](store::Txn& txn) -> Status {
        for (const char* id : {"m0", "m1"})
            if (auto ev = a.fleet->apply(txn, id, "", sent_at(kT + 5)); !ev) return ev.error();
        return txn.status();
    }));
    after = command_calls(*sh.redis);
    d = delta(before, after);
    CHECK(d["evalsha"] == 1);
    CHECK(round_trips(d) == 1);
    CHECK(d["hincrby"] == 100);

    Counters c = a.total(*a.fleet, day);
    CHECK(c[requests] == 100);
    CHECK(c[accepted] == 100);
    CHECK(c[delivered] == 100);
    // The fleet's totals are this host's own counters (it is the only one).
    CHECK(c == a.total(*a.local, day));

    // The counts reached Redis but the host's commit was lost (a crash, a
    // second host replaying the same log): the same operations count
    // nothing twice.
    Host lost("stats-batch-lost", sh.state);
    REQUIRE(lost.env->update([&](store::Txn& txn) -> Status {
        for (const char* id : {"m0", "m1"})
            if (auto st = lost.fleet->add(txn, fifty(id)); !st) return st;
        for (const char* id : {"m0", "m1"})
            if (auto ev = lost.fleet->apply(txn, id, "", sent_at(kT + 5)); !ev) return ev.error();
        return txn.status();
    }));
    CHECK(lost.total(*lost.local, day)[requests] == 100);  // its own store counted them
    CHECK(a.total(*a.fleet, day) == c);                    // the fleet did not
}

TEST_CASE("stats batch: the shared counts fail the transaction when the shared state fails",
          "[records][fleet][redis]") {
    if (!RedisServer::available()) return;
    Shared sh("redis");
    Host a("stats-batch-down", sh.state);
    const int32_t day = a.fleet->day_of(kT);
    sh.redis->stop();
    Status st = a.env->update([&](store::Txn& txn) { return a.fleet->add(txn, fifty("m1")); });
    REQUIRE_FALSE(st);
    CHECK(st.error().what.find("statistics (shared state)") != std::string::npos);
    // Nothing of the transaction was committed: the caller answers per
    // on_error (the milter) or reads the batch again (the follower).
    REQUIRE(a.env->view([&](store::Txn& txn) {
        CHECK_FALSE(a.fleet->get(txn, "m1"));
        return txn.status();
    }));
    CHECK(a.total(*a.local, day)[requests] == 0);
}

TEST_CASE("stats batch: the same operations give the same totals on both backends and locally", "[records][fleet]") {
    std::map<std::string, Counters> totals;
    for (const auto& kind : backends()) {
        Shared sh(kind);
        Host a("stats-batch-cmp-a", sh.state), b("stats-batch-cmp-b", sh.state);
        const int32_t day = a.fleet->day_of(kT);
        MessageRecord held_msg = fifty("h1");
        for (auto& r : held_msg.recipients) r.state.send_status = send_status::daily_limit;
        MessageRecord dropped_msg = fifty("d1");
        for (auto& r : dropped_msg.recipients) r.state.deliver = Deliver::dropped;
        REQUIRE(a.env->update([&](store::Txn& txn) -> Status {
            if (auto st = a.fleet->add(txn, fifty("m1")); !st) return st;
            if (auto st = a.fleet->add(txn, held_msg); !st) return st;
            return a.fleet->add(txn, dropped_msg);
        }));
        REQUIRE(b.env->update([&](store::Txn& txn) { return b.fleet->add(txn, fifty("m2")); }));
        // Deferred twice (two times: two events), then delivered; opened.
        for (int64_t t : {kT + 10, kT + 20}) {
            Outcome d;
            d.kind = Outcome::Kind::deferred;
            d.time = t;
            REQUIRE(b.env->update([&](store::Txn& txn) -> Status {
                if (auto ev = b.fleet->apply(txn, "m2", "", d); !ev) return ev.error();
                return txn.status();
            }));
        }
        REQUIRE(b.env->update([&](store::Txn& txn) -> Status {
            if (auto ev = b.fleet->apply(txn, "m2", "", sent_at(kT + 30)); !ev) return ev.error();
            Outcome open;
            open.kind = Outcome::Kind::open;
            open.time = kT + 40;
            if (auto ev = b.fleet->apply(txn, "m2", "r1@gmail.com", open); !ev) return ev.error();
            return txn.status();
        }));
        Counters fleet = a.total(*a.fleet, day);
        Counters local = a.total(*a.local, day), local_b = b.total(*b.local, day);
        for (size_t i = 0; i < kCounters; ++i) {
            INFO(kind << " " << counter_name(static_cast<Counter>(i)));
            CHECK(fleet[i] == local[i] + local_b[i]);
        }
        CHECK(fleet[requests] == 200);
        CHECK(fleet[held] == 50);
        CHECK(fleet[dropped] == 50);
        CHECK(fleet[delivered] == 50);
        CHECK(fleet[opens] == 1);
        totals[kind] = fleet;
    }
    if (totals.size() == 2) CHECK(totals["lmdb"] == totals["redis"]);
}

namespace {

struct Step : store::PreCommit {
    std::function<Status()> fn;
    int runs = 0;
    explicit Step(std::function<Status()> f) : fn(std::move(f)) {}
    Status run() override {
        ++runs;
        return fn();
    }
};

}  // namespace

TEST_CASE("store: a transaction's pre-commit step runs once before it commits; its failure commits nothing",
          "[store]") {
    test::TempRecords s("pre-commit");
    auto meta = s.env->table(store::table::meta);
    int owner = 0;
    int runs = 0;
    // Runs once, with the transaction still open (not yet committed).
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        txn.put(meta, "k1", "v");
        CHECK_FALSE(txn.pre_commit(&owner));
        auto& step = txn.add_pre_commit(&owner, std::make_unique<Step>([&]() -> Status {
            ++runs;
            CHECK(txn.active());
            CHECK(txn.get(meta, "k1"));
            return ok_status();
        }));
        CHECK(txn.pre_commit(&owner) == &step);
        return txn.status();
    }));
    CHECK(runs == 1);
    // Its failure is the commit's: nothing of the transaction is written.
    Status st = s.env->update([&](store::Txn& txn) -> Status {
        txn.put(meta, "k2", "v");
        txn.add_pre_commit(&owner,
                           std::make_unique<Step>([] { return Status(internal_error("test: shared state down")); }));
        return txn.status();
    });
    REQUIRE_FALSE(st);
    CHECK(st.error().what == "test: shared state down");
    // A transaction that fails (or aborts) drops its step unrun.
    runs = 0;
    CHECK_FALSE(s.env->update([&](store::Txn& txn) -> Status {
        txn.add_pre_commit(&owner, std::make_unique<Step>([&] {
            ++runs;
            return ok_status();
        }));
        return internal_error("test: the update fails");
    }));
    CHECK(runs == 0);
    REQUIRE(s.env->view([&](store::Txn& r) {
        CHECK(r.get(meta, "k1"));
        CHECK_FALSE(r.get(meta, "k2"));
        return r.status();
    }));
}
