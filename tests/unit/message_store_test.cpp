// message_store_test.cpp -- message records, events and statistics in a real LMDB.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "temp_records.hpp"
#include <filesystem>

#include "records/message_store.hpp"

using namespace ses;
using namespace ses::records;

namespace {

struct TempStore : ses::test::TempRecords {
    TempStore() : TempRecords("records") {}
};

MessageRecord sample(std::string id, std::string qid, int64_t t, std::vector<std::string> rcpts) {
    MessageRecord m;
    m.id = std::move(id);
    m.queue_id = std::move(qid);
    m.identity = "example.com";
    m.sender = "news@example.com";
    m.from = "news@example.com";
    m.subject = std::string(400, 's');
    m.size = 2000;
    m.request_time = t;
    for (auto& r : rcpts) {
        RecipientRecord rr;
        rr.address = r;
        rr.state.request_time = t;
        m.recipients.push_back(rr);
    }
    return m;
}

Counters total(TempStore& s, int32_t day, const std::string& group) {
    Counters c{};
    REQUIRE(s.env->view([&](store::Txn& t) {
        for (auto& row : s.ms->stats(t, day, day))
            if (row.mailbox_group == group && !row.simulated)
                for (size_t i = 0; i < kCounters; ++i) c[i] += row.counters[i];
        return ok_status();
    }));
    return c;
}

}  // namespace

TEST_CASE("A record round-trips and is found by queue id and by recipient and day") {
    TempStore s;
    const int64_t t = 1796311484;  // 2026-11-27
    REQUIRE(s.env->update([&](store::Txn& txn) {
        return s.ms->add(txn, sample("m1", "4Ym2Jk0Zq1z9vQ", t, {"a@gmail.com", "b@example.org"}));
    }));
    REQUIRE(s.env->view([&](store::Txn& txn) {
        auto m = s.ms->get(txn, "m1");
        REQUIRE(m);
        CHECK(m->queue_id == "4Ym2Jk0Zq1z9vQ");
        CHECK(m->subject.size() == kMaxSubject);
        REQUIRE(m->recipients.size() == 2);
        CHECK(m->recipients[1].address == "b@example.org");
        CHECK(s.ms->by_queue_id(txn, "4Ym2Jk0Zq1z9vQ", t + 10) == std::optional<std::string>("m1"));
        CHECK_FALSE(s.ms->by_queue_id(txn, "4Ym2Jk0Zq1z9vQ", t + 40 * 86400));  // outside the window
        CHECK(s.ms->by_recipient(txn, "A@GMAIL.COM", s.ms->day_of(t)) == std::vector<std::string>{"m1"});
        CHECK(s.ms->by_recipient(txn, "a@gmail.com", s.ms->day_of(t) + 1).empty());
        auto ev = s.ms->events(txn, 0, 100);
        REQUIRE(ev.size() == 2);
        CHECK(ev[0].type == EventType::processed);
        CHECK(ev[0].seq < ev[1].seq);
        return ok_status();
    }));
    auto g = total(s, s.ms->day_of(t), "gmail.com");
    CHECK(g[requests] == 1);
    CHECK(g[accepted] == 1);
    CHECK(total(s, s.ms->day_of(t), "other")[requests] == 1);
}

TEST_CASE("A reused short queue id names the newest record") {
    TempStore s;
    const int64_t t = 1796311484;
    REQUIRE(s.env->update([&](store::Txn& txn) {
        if (auto st = s.ms->add(txn, sample("old", "A1B2C3", t - 3600, {"a@b.example"})); !st) return st;
        return s.ms->add(txn, sample("new", "A1B2C3", t, {"a@b.example"}));
    }));
    REQUIRE(s.env->view([&](store::Txn& txn) {
        CHECK(s.ms->by_queue_id(txn, "A1B2C3", t + 1) == std::optional<std::string>("new"));
        return ok_status();
    }));
}

TEST_CASE("Outcomes change status, write events and count exactly once") {
    TempStore s;
    const int64_t t = 1796311484;
    REQUIRE(s.env->update([&](store::Txn& txn) {
        return s.ms->add(txn, sample("m1", "Q1", t, {"a@gmail.com", "b@gmail.com"}));
    }));
    auto apply = [&](std::string_view rcpt, Outcome o) {
        std::vector<Event> out;
        REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
            auto r = s.ms->apply(txn, "m1", rcpt, o);
            if (!r) return r.error();
            out = *r;
            return ok_status();
        }));
        return out;
    };
    CHECK(apply("a@gmail.com", {Outcome::Kind::deferred, "4.4.1", "timed out", t + 5}).size() == 1);
    CHECK(apply("a@gmail.com", {Outcome::Kind::sent, "2.0.0", "250 ok", t + 60}).size() == 1);
    CHECK(apply("a@gmail.com", {Outcome::Kind::sent, "2.0.0", "250 ok", t + 61}).empty());  // a replayed line
    CHECK(apply("B@gmail.com", {Outcome::Kind::bounced, "5.1.1", "550 5.1.1 unknown", t + 7}).size() == 1);
    // An expiry applies to every recipient still open: none is left.
    CHECK(apply("", {Outcome::Kind::expired, "", "expired", t + 9}).empty());

    auto c = total(s, s.ms->day_of(t), "gmail.com");
    CHECK(c[requests] == 2);
    CHECK(c[delivered] == 1);
    CHECK(c[deferred] == 1);
    CHECK(c[bounces] == 1);
    CHECK(c[hard_bounces] == 1);
    CHECK(c[soft_bounces] == 0);
    REQUIRE(s.env->view([&](store::Txn& txn) {
        auto m = s.ms->get(txn, "m1");
        REQUIRE(m);
        CHECK(m->recipients[0].state.deliver == Deliver::delivered);
        CHECK(m->recipients[0].state.deliver_time == t + 60);
        CHECK(m->recipients[1].state.deliver == Deliver::bounced);
        CHECK(m->recipients[1].state.deliver_message == "550 5.1.1 unknown");
        CHECK(s.ms->events(txn, 0, 100).size() == 5);  // 2 processed, deferred, delivered, bounce
        return ok_status();
    }));
}

TEST_CASE("Purge removes old records with their indexes, keeps new ones") {
    TempStore s;
    const int64_t t = 1796311484;
    REQUIRE(s.env->update([&](store::Txn& txn) {
        for (int i = 0; i < 10; ++i)
            if (auto st = s.ms->add(
                    txn, sample("m" + std::to_string(i), "Q" + std::to_string(i), t + i * 86400, {"x@example.org"}));
                !st)
                return st;
        return ok_status();
    }));
    size_t gone = 0;
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        auto r = s.ms->purge(txn, t + 5 * 86400, 3);  // at most 3 per call
        if (!r) return r.error();
        gone = *r;
        return ok_status();
    }));
    CHECK(gone == 3);
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        auto r = s.ms->purge(txn, t + 5 * 86400, 100);
        if (!r) return r.error();
        gone += *r;
        return ok_status();
    }));
    CHECK(gone == 5);
    REQUIRE(s.env->view([&](store::Txn& txn) {
        CHECK_FALSE(s.ms->get(txn, "m4"));
        CHECK(s.ms->get(txn, "m5"));
        CHECK_FALSE(s.ms->by_queue_id(txn, "Q2", t + 2 * 86400));
        CHECK(s.ms->by_recipient(txn, "x@example.org", s.ms->day_of(t)).empty());
        CHECK(s.ms->by_recipient(txn, "x@example.org", s.ms->day_of(t + 6 * 86400)) == std::vector<std::string>{"m6"});
        auto ev = s.ms->events(txn, 0, 100);
        REQUIRE(ev.size() == 5);
        CHECK(ev.front().message_id == "m5");
        return ok_status();
    }));
}
