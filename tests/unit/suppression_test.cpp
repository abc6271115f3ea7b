// suppression_test.cpp -- the suppression list in a real LMDB, its automatic
// entries, and the mailbox simulator's scenario table.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "temp_records.hpp"
#include <filesystem>

#include "records/message_store.hpp"
#include "records/simulator.hpp"
#include "records/suppression.hpp"

using namespace ses;
using namespace ses::records;

namespace {

struct TempList : ses::test::TempRecords {
    std::shared_ptr<SuppressionList> list;
    explicit TempList(SuppressionSettings s = {}) : TempRecords("suppression") {
        auto l = SuppressionList::open(env, s);
        REQUIRE(l);
        list = *l;
    }
    void put(SuppressionEntry e) {
        REQUIRE(env->update([&](store::Txn& txn) { return list->put(txn, e); }));
    }
    std::optional<SuppressionEntry> find(const std::string& a, const std::string& identity, int64_t now = 1000) {
        auto txn = env->begin_read();
        REQUIRE(txn);
        return list->find(*txn, a, identity, now);
    }
};

SuppressionEntry entry(std::string address, std::string scope = {}, SuppressionReason r = SuppressionReason::manual,
                       int64_t expires = 0) {
    SuppressionEntry e;
    e.address = std::move(address);
    e.scope = std::move(scope);
    e.reason = r;
    e.time = 500;
    e.expires = expires;
    return e;
}

}  // namespace

TEST_CASE("suppression: addresses normalise whole to lower case", "[suppression]") {
    CHECK(normalize_address("Bob@Example.COM") == "bob@example.com");
    CHECK(normalize_address(" <Bob@Example.com.> ") == "bob@example.com");
    CHECK(normalize_address("bob+tag@example.com") == "bob+tag@example.com");  // a label is another address
    CHECK(normalize_address("bob") == "");
    CHECK(normalize_address("@example.com") == "");
    CHECK(normalize_address("bob@") == "");
    CHECK(normalize_address("a b@example.com") == "");
    CHECK(parse_reason("hard_bounce") == SuppressionReason::hard_bounce);
    CHECK_FALSE(parse_reason("bounce"));
    CHECK(reason_name(SuppressionReason::unsubscribe) == "unsubscribe");
}

TEST_CASE("suppression: global and identity scopes, expiry, removal", "[suppression]") {
    TempList t;
    t.put(entry("Global@Remote.test"));
    t.put(entry("scoped@remote.test", "Example.com", SuppressionReason::complaint));
    t.put(entry("old@remote.test", "", SuppressionReason::hard_bounce, 900));

    auto g = t.find("GLOBAL@remote.test", "other.test");
    REQUIRE(g);
    CHECK(g->address == "global@remote.test");
    CHECK(g->scope.empty());
    CHECK(g->reason == SuppressionReason::manual);

    // An identity's entry stops that identity only.
    auto s = t.find("scoped@remote.test", "example.com");
    REQUIRE(s);
    CHECK(s->scope == "example.com");
    CHECK(s->reason == SuppressionReason::complaint);
    CHECK_FALSE(t.find("scoped@remote.test", "other.test"));
    CHECK_FALSE(t.find("scoped@remote.test", ""));

    // Expired entries stop nothing but stay listed.
    CHECK(t.find("old@remote.test", "example.com", 899));
    CHECK_FALSE(t.find("old@remote.test", "example.com", 900));
    CHECK_FALSE(t.find("nobody@remote.test", "example.com"));
    // A neighbour whose address is a prefix of another's does not match.
    CHECK_FALSE(t.find("global@remote.tes", ""));

    {
        auto txn = t.env->begin_read();
        REQUIRE(txn);
        auto all = t.list->list(*txn);
        REQUIRE(all.size() == 3);
        CHECK(all[0].address == "global@remote.test");
        CHECK(all[1].address == "old@remote.test");
        CHECK(all[1].expires == 900);
    }

    // Removal: one scope, or every scope.
    t.put(entry("scoped@remote.test"));
    size_t n = 0;
    REQUIRE(t.env->update([&](store::Txn& txn) {
        n = t.list->remove(txn, "Scoped@remote.test", std::string("example.com"));
        return txn.status();
    }));
    CHECK(n == 1);
    CHECK(t.find("scoped@remote.test", "example.com"));  // the global one is left
    t.put(entry("scoped@remote.test", "example.com"));
    REQUIRE(t.env->update([&](store::Txn& txn) {
        n = t.list->remove(txn, "scoped@remote.test", std::nullopt);
        return txn.status();
    }));
    CHECK(n == 2);
    CHECK_FALSE(t.find("scoped@remote.test", "example.com"));

    // A bad address is refused.
    Status bad = t.env->update([&](store::Txn& txn) { return t.list->put(txn, entry("not-an-address")); });
    CHECK_FALSE(bad);
}

TEST_CASE("suppression: hard bounces, complaints and unsubscribes add the recipient", "[suppression]") {
    SuppressionSettings s;
    s.per_identity = true;
    s.complaint_expiry = 3600;
    TempList t(s);
    MessageRecord rec;
    rec.id = "m1";
    rec.identity = "example.com";
    auto note = [&](EventType type, BounceType b, const std::string& rcpt, bool simulated = false) {
        Event e;
        e.time = 2000;
        e.type = type;
        e.bounce = b;
        e.recipient = rcpt;
        e.simulated = simulated;
        REQUIRE(t.env->update([&](store::Txn& txn) { return t.list->note_event(txn, rec, e); }));
    };
    note(EventType::bounce, BounceType::hard, "Hard@remote.test");
    note(EventType::bounce, BounceType::soft, "soft@remote.test");
    note(EventType::spamreport, BounceType::none, "angry@remote.test");
    note(EventType::unsubscribe, BounceType::none, "bye@remote.test");
    note(EventType::delivered, BounceType::none, "fine@remote.test");
    note(EventType::bounce, BounceType::hard, "sim@remote.test", true);

    auto h = t.find("hard@remote.test", "example.com", 2000);
    REQUIRE(h);
    CHECK(h->reason == SuppressionReason::hard_bounce);
    CHECK(h->scope == "example.com");  // scope = identity
    CHECK(h->source == "m1");
    CHECK(h->expires == 0);
    CHECK_FALSE(t.find("hard@remote.test", "other.test", 2000));
    CHECK_FALSE(t.find("soft@remote.test", "example.com", 2000));
    auto c = t.find("angry@remote.test", "example.com", 2000);
    REQUIRE(c);
    CHECK(c->reason == SuppressionReason::complaint);
    CHECK(c->expires == 2000 + 3600);
    REQUIRE(t.find("bye@remote.test", "example.com", 2000));
    CHECK(t.find("bye@remote.test", "example.com", 2000)->reason == SuppressionReason::unsubscribe);
    CHECK_FALSE(t.find("fine@remote.test", "example.com", 2000));
    CHECK_FALSE(t.find("sim@remote.test", "example.com", 2000));  // simulated events never add

    // A simulated record adds nothing either.
    rec.simulated = true;
    note(EventType::bounce, BounceType::hard, "simrec@remote.test");
    CHECK_FALSE(t.find("simrec@remote.test", "example.com", 2000));
}

TEST_CASE("simulator: addresses name scenarios", "[simulator]") {
    SimulatorSettings s;
    CHECK(scenario_of(s, "success@simulator.sesmilter.invalid") == Scenario::success);
    CHECK(scenario_of(s, "Bounce+test1@Simulator.Sesmilter.Invalid") == Scenario::bounce);
    CHECK(scenario_of(s, "<softbounce@simulator.sesmilter.invalid>") == Scenario::softbounce);
    CHECK(scenario_of(s, "ooto@simulator.sesmilter.invalid") == Scenario::ooto);
    CHECK(scenario_of(s, "complaint+x+y@simulator.sesmilter.invalid") == Scenario::complaint);
    CHECK(scenario_of(s, "unsubscribe@simulator.sesmilter.invalid") == Scenario::unsubscribe);
    CHECK(scenario_of(s, "suppressed@simulator.sesmilter.invalid") == Scenario::suppressed);
    CHECK(scenario_of(s, "whatever@simulator.sesmilter.invalid") == Scenario::unknown);
    CHECK_FALSE(scenario_of(s, "success@example.com"));
    CHECK_FALSE(scenario_of(s, "success@sub.simulator.sesmilter.invalid"));
    CHECK_FALSE(scenario_of(s, "success"));
    s.enabled = false;
    CHECK_FALSE(scenario_of(s, "success@simulator.sesmilter.invalid"));
    s.enabled = true;
    s.domain = "sim.example";
    CHECK(scenario_of(s, "bounce@sim.example") == Scenario::bounce);
}

TEST_CASE("simulator: each scenario's outcomes move a recipient as the real one would", "[simulator]") {
    struct Want {
        Scenario s;
        Deliver deliver;
        std::vector<EventType> events;
        BounceType bounce;
    };
    const Want table[] = {
        {Scenario::success, Deliver::delivered, {EventType::delivered}, BounceType::none},
        {Scenario::bounce, Deliver::bounced, {EventType::bounce}, BounceType::hard},
        {Scenario::softbounce, Deliver::delivered, {EventType::deferred, EventType::delivered}, BounceType::none},
        {Scenario::ooto, Deliver::delivered, {EventType::delivered, EventType::auto_reply}, BounceType::none},
        {Scenario::complaint, Deliver::delivered, {EventType::delivered, EventType::spamreport}, BounceType::none},
        {Scenario::unsubscribe, Deliver::delivered, {EventType::delivered, EventType::unsubscribe}, BounceType::none},
        {Scenario::unknown, Deliver::bounced, {EventType::bounce}, BounceType::hard},
        {Scenario::suppressed, Deliver::accepted, {}, BounceType::none},
    };
    for (const auto& w : table) {
        INFO(scenario_name(w.s));
        RecipientState st;
        std::vector<EventType> got;
        for (const auto& o : scenario_outcomes(w.s, "x@simulator.sesmilter.invalid", 77)) {
            CHECK(o.time == 77);
            auto c = apply(st, o);
            REQUIRE(c);
            got.push_back(c->event);
        }
        CHECK(got == w.events);
        CHECK(st.deliver == w.deliver);
        CHECK(st.bounce == w.bounce);
    }
    auto b = scenario_outcomes(Scenario::bounce, "bounce@simulator.sesmilter.invalid", 1);
    REQUIRE(b.size() == 1);
    CHECK(b[0].dsn == "5.1.1");
    CHECK(b[0].text.rfind("550 5.1.1 ", 0) == 0);
}

TEST_CASE("message store: simulated recipients count in the simulated dimension only", "[suppression][simulator]") {
    TempList t;
    MessageRecord rec;
    rec.id = "mixed";
    rec.identity = "example.com";
    rec.request_time = 86400 * 10;
    RecipientRecord real;
    real.address = "real@remote.test";
    RecipientRecord sim;
    sim.address = "complaint@simulator.sesmilter.invalid";
    sim.state.simulated = true;
    rec.recipients = {real, sim};
    REQUIRE(t.env->update([&](store::Txn& txn) -> Status {
        if (auto s = t.ms->add(txn, rec); !s) return s;
        for (const auto& o : scenario_outcomes(Scenario::complaint, sim.address, rec.request_time))
            if (auto ev = t.ms->apply(txn, rec.id, sim.address, o); !ev) return ev.error();
        return txn.status();
    }));
    auto txn = t.env->begin_read();
    REQUIRE(txn);
    Counters realc{}, simc{};
    for (auto& row : t.ms->stats(*txn, 10, 10))
        for (size_t i = 0; i < kCounters; ++i) (row.simulated ? simc : realc)[i] += row.counters[i];
    CHECK(realc[requests] == 1);
    CHECK(realc[delivered] == 0);
    CHECK(realc[complaints] == 0);
    CHECK(simc[requests] == 1);
    CHECK(simc[delivered] == 1);
    CHECK(simc[complaints] == 1);
    auto got = t.ms->get(*txn, "mixed");
    REQUIRE(got);
    CHECK_FALSE(got->recipients[0].state.simulated);
    CHECK(got->recipients[1].state.simulated);  // survives the encoding
    CHECK(got->recipients[1].state.complained);
    size_t sim_events = 0, real_events = 0;
    for (auto& e : t.ms->events(*txn, 0, 100)) (e.simulated ? sim_events : real_events)++;
    CHECK(real_events == 1);  // processed
    CHECK(sim_events == 3);   // processed, delivered, spamreport
}
