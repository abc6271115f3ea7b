// suppression_fleet_test.cpp -- the suppression list of a fleet: two hosts
// (each its own LMDB) sharing one list through store::SharedState, against
// both backends (a third LMDB store standing for the shared one, and a real
// redis-server when installed); a shared state that fails fails the
// caller's transaction.
#include <catch2/catch.hpp>

#include "records/suppression.hpp"
#include "redis_fixture.hpp"
#include "temp_records.hpp"

using namespace ses;
using records::SuppressionEntry;
using records::SuppressionList;
using records::SuppressionReason;

namespace {

struct FleetHost : test::TempRecords {
    std::shared_ptr<SuppressionList> list;
    FleetHost(const char* name, std::shared_ptr<store::SharedState> shared) : TempRecords(name) {
        auto l = SuppressionList::open(env, {}, std::move(shared));
        REQUIRE(l);
        list = *l;
    }
    ~FleetHost() { list.reset(); }
    std::optional<SuppressionEntry> find(const std::string& a, const std::string& identity = "example.com") {
        std::optional<SuppressionEntry> out;
        REQUIRE(env->view([&](store::Txn& txn) {
            out = list->find(txn, a, identity, 1000);
            return txn.status();
        }));
        return out;
    }
    void put(SuppressionEntry e) {
        REQUIRE(env->update([&](store::Txn& txn) { return list->put(txn, e); }));
    }
    size_t remove(const std::string& a, std::optional<std::string> scope = std::nullopt) {
        size_t n = 0;
        REQUIRE(env->update([&](store::Txn& txn) {
            n = list->remove(txn, a, scope);
            return txn.status();
        }));
        return n;
    }
    std::vector<SuppressionEntry> all() {
        std::vector<SuppressionEntry> out;
        REQUIRE(env->view([&](store::Txn& txn) {
            out = list->list(txn);
            return txn.status();
        }));
        return out;
    }
};

SuppressionEntry entry(const std::string& a, const std::string& scope = "") {
    SuppressionEntry e;
    e.address = a;
    e.scope = scope;
    e.reason = SuppressionReason::hard_bounce;
    e.time = 900;
    e.source = "msg-1";
    return e;
}

void two_hosts_share_one_list(std::shared_ptr<store::SharedState> shared) {
    FleetHost a("supp-fleet-a", shared), b("supp-fleet-b", shared);
    a.put(entry("Bounced@Example.ORG"));
    a.put(entry("scoped@example.org", "example.com"));
    // Added through host A, seen by host B.
    auto e = b.find("bounced@example.org");
    REQUIRE(e);
    CHECK(e->reason == SuppressionReason::hard_bounce);
    CHECK(e->source == "msg-1");
    CHECK(b.find("scoped@example.org", "example.com"));
    CHECK_FALSE(b.find("scoped@example.org", "example.net"));
    CHECK(b.all().size() == 2);
    // Removed through host B: gone on A too, though A keeps a local copy.
    CHECK(b.remove("bounced@example.org") == 1);
    CHECK_FALSE(a.find("bounced@example.org"));
    CHECK(a.all().size() == 1);
    CHECK(a.remove("scoped@example.org", "example.com") == 1);
    CHECK(b.all().empty());
}

// Every call fails, as an unreachable Redis does.
struct Down : store::SharedState {
    Error err{"redis unreachable (test)", {}};
    Result<store::QuotaAnswer> charge(const std::vector<store::QuotaCharge>&, int32_t, uint64_t, int64_t) override {
        return err;
    }
    Status refund(const std::vector<store::QuotaCharge>&, int32_t, uint64_t) override { return err; }
    Result<uint64_t> used(std::string_view, int32_t) override { return err; }
    Result<std::optional<std::string>> suppression_get(std::string_view) override { return err; }
    Status suppression_put(std::string_view, std::string_view) override { return err; }
    Result<bool> suppression_del(std::string_view) override { return err; }
    Result<std::vector<std::pair<std::string, std::string>>> suppression_list(std::string_view, size_t) override {
        return err;
    }
    Result<bool> count(int32_t, std::string_view, std::string_view) override { return err; }
    Result<std::map<std::string, uint64_t>> totals(int32_t) override { return err; }
    Result<store::SharedIdentity> identity_get(std::string_view, int32_t) override { return err; }
    Result<bool> identity_put(std::string_view, uint64_t, std::string_view) override { return err; }
    Result<store::SharedDay> day_get(std::string_view, int32_t) override { return err; }
    Result<bool> feedback_add(std::string_view, int32_t, uint64_t, uint64_t, std::string_view, int64_t) override {
        return err;
    }
    store::SharedHealth health() const override { return {"redis", false, 1, 1}; }
    Status held_register(const std::vector<std::string>&, const store::HeldOrder&) override { return err; }
    Status held_remove(const std::vector<std::string>&, std::string_view) override { return err; }
    Result<store::QuotaAnswer> charge_in_order(const std::vector<store::QuotaCharge>&, int32_t, int64_t,
                                               const store::HeldOrder&, int64_t) override {
        return err;
    }
    Result<std::vector<bool>> count_many(const std::vector<store::CountOp>&) override { return err; }
};

}  // namespace

TEST_CASE("suppression fleet: two hosts share one list (LMDB backend)", "[suppression][fleet]") {
    test::TempRecords shared_store("supp-fleet-shared");
    auto sh = store::open_shared_state(store::SharedOptions{}, shared_store.env);
    REQUIRE(sh);
    two_hosts_share_one_list(*sh);
}

TEST_CASE("suppression fleet: two hosts share one list (Redis backend)", "[suppression][fleet][redis]") {
    SES_SKIP_WITHOUT_REDIS();
    test::RedisServer redis;
    test::TempRecords unused("supp-fleet-unused");
    auto sh = store::open_shared_state(redis.shared_options(), unused.env);
    REQUIRE(sh);
    two_hosts_share_one_list(*sh);
}

TEST_CASE("suppression fleet: an unreachable shared state fails the transaction", "[suppression][fleet]") {
    FleetHost a("supp-fleet-down", std::make_shared<Down>());
    Status st = a.env->view([&](store::Txn& txn) {
        CHECK_FALSE(a.list->find(txn, "x@example.org", "example.com", 1000));
        return txn.status();
    });
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().what, Catch::Contains("suppression list (shared state)") && Catch::Contains("unreachable"));
    // A write is not committed locally either: the caller retries it whole.
    st = a.env->update([&](store::Txn& txn) { return a.list->put(txn, entry("x@example.org")); });
    CHECK_FALSE(st);
    auto local = SuppressionList::open(a.env, {});
    REQUIRE(local);
    Status rd = a.env->view([&](store::Txn& txn) {
        CHECK((*local)->list(txn).empty());
        return txn.status();
    });
    CHECK(rd);
}
