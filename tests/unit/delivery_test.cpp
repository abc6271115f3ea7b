// delivery_test.cpp -- MTA log lines applied to message records, across restarts.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "records/delivery.hpp"
#include "util/clock.hpp"

using namespace ses;
using namespace ses::records;

namespace {

struct Fixture {
    std::filesystem::path dir;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<MessageStore> ms;
    std::filesystem::path log;
    Fixture() {
        static std::atomic<int> n{0};
        dir = std::filesystem::temp_directory_path() /
              ("ses-delivery-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        store::Options o;
        o.path = (dir / "store").string();
        o.map_size = 1 << 20;
        env = *store::Env::open(o);
        ms = *MessageStore::open(env, {});
        log = dir / "maillog";
        std::ofstream(log) << "Nov 27 15:00:00 mx postfix/master[1]: daemon started\n";
    }
    ~Fixture() {
        ms.reset();
        env.reset();
        std::filesystem::remove_all(dir);
    }
    void add(const std::string& id, const std::string& qid, std::vector<std::string> rcpts) {
        MessageRecord m;
        m.id = id;
        m.queue_id = qid;
        m.identity = "example.com";
        m.request_time = clock::now();
        for (auto& r : rcpts) m.recipients.push_back({r, {}});
        REQUIRE(env->update([&](store::Txn& t) { return ms->add(t, m); }));
    }
    void write(const std::string& s) { std::ofstream(log, std::ios::app) << s; }
    Deliver status(const std::string& id, size_t i) {
        Deliver d{};
        REQUIRE(env->view([&](store::Txn& t) {
            auto m = ms->get(t, id);
            REQUIRE(m);
            d = m->recipients.at(i).state.deliver;
            return ok_status();
        }));
        return d;
    }
    Counters counters() {
        Counters c{};
        REQUIRE(env->view([&](store::Txn& t) {
            for (auto& row : ms->stats(t, -100000, 100000))
                for (size_t i = 0; i < kCounters; ++i) c[i] += row.counters[i];
            return ok_status();
        }));
        return c;
    }
};

std::string line(const std::string& qid, const std::string& rest) {
    return "Nov 27 15:24:44 mx postfix/smtp[9]: " + qid + ": " + rest + "\n";
}

}  // namespace

TEST_CASE("Log lines become per-recipient status; restarts count nothing twice") {
    Fixture f;
    f.add("m1", "QA1", {"alias@example.net", "c@example.org", "d@example.org"});
    {
        DeliveryTracker t(f.env, f.ms, f.log.string());
        REQUIRE(t.poll_once());  // first start: from the end of the existing log
        f.write(line("QA1",
                     "to=<real@example.net>, orig_to=<alias@example.net>, relay=r[127.0.0.1]:25, delay=1, "
                     "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"));
        f.write(line("QA1",
                     "to=<c@example.org>, relay=r[127.0.0.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, "
                     "status=bounced (host r said: 550 5.1.1 no)"));
        f.write(line("ZZZ9", "to=<x@y.example>, relay=r, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)"));
        auto n = t.poll_once();
        REQUIRE(n);
        CHECK(*n == 3);
    }
    CHECK(f.status("m1", 0) == Deliver::delivered);
    CHECK(f.status("m1", 1) == Deliver::bounced);
    CHECK(f.status("m1", 2) == Deliver::accepted);
    {
        // A new tracker (a restart) resumes after the committed lines.
        DeliveryTracker t(f.env, f.ms, f.log.string());
        f.write(line("QA1",
                     "to=<d@example.org>, relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred "
                     "(connect to x: Connection timed out)"));
        auto n = t.poll_once();
        REQUIRE(n);
        CHECK(*n == 1);
        f.write("Nov 27 16:00:00 mx postfix/qmgr[7]: QA1: from=<s@example.com>, status=expired, returned to sender\n");
        REQUIRE(t.poll_once());
    }
    CHECK(f.status("m1", 2) == Deliver::bounced);
    auto c = f.counters();
    CHECK(c[delivered] == 1);
    CHECK(c[bounces] == 2);
    CHECK(c[hard_bounces] == 1);
    CHECK(c[soft_bounces] == 1);
    CHECK(c[deferred] == 1);
    {
        DeliveryTracker t(f.env, f.ms, f.log.string());
        auto n = t.poll_once();
        REQUIRE(n);
        CHECK(*n == 0);
    }
    CHECK(f.counters() == c);
}

TEST_CASE("Events reach the hook inside the batch's transaction") {
    Fixture f;
    f.add("m2", "QB2", {"a@example.org"});
    DeliveryTracker t(f.env, f.ms, f.log.string());
    REQUIRE(t.poll_once());
    std::vector<EventType> seen;
    t.on_event = [&](store::Txn& txn, const MessageRecord& m, const Event& e) {
        CHECK(txn.writable());
        CHECK(m.id == "m2");
        seen.push_back(e.type);
    };
    f.write(line("QB2", "to=<a@example.org>, relay=r, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)"));
    REQUIRE(t.poll_once());
    CHECK(seen == std::vector<EventType>{EventType::delivered});
}

TEST_CASE("Syslog stamps get their year from now") {
    const char* old = getenv("TZ");
    std::string saved = old ? old : "";
    setenv("TZ", "UTC", 1);
    tzset();
    int64_t now = *clock::parse_rfc3339("2026-11-27T15:30:00Z");
    CHECK(log_time("Nov 27 15:24:44", now) == *clock::parse_rfc3339("2026-11-27T15:24:44Z"));
    CHECK(log_time("Nov  3 01:02:03", now) == *clock::parse_rfc3339("2026-11-03T01:02:03Z"));
    int64_t jan = *clock::parse_rfc3339("2027-01-01T00:00:05Z");
    CHECK(log_time("Dec 31 23:59:59", jan) == *clock::parse_rfc3339("2026-12-31T23:59:59Z"));
    CHECK(log_time("2026-11-27T15:24:44.123456+01:00", now) == *clock::parse_rfc3339("2026-11-27T14:24:44Z"));
    CHECK(log_time("garbage here xx", now) == now);
    if (old)
        setenv("TZ", saved.c_str(), 1);
    else
        unsetenv("TZ");
    tzset();
}

TEST_CASE("A requeued message (postsuper -r) keeps its record under the new queue id") {
    Fixture f;
    f.add("m1", "OLDQID1", {"a@example.net"});
    DeliveryTracker t(f.env, f.ms, f.log.string());
    REQUIRE(t.poll_once());
    f.write("Nov 27 18:21:10 mta postfix/postsuper[5]: OLDQID1: requeued\n");
    f.write("Nov 27 18:21:10 mta postfix/pickup[6]: NEWQID2: uid=0 from=<s@example.com> orig_id=OLDQID1\n");
    f.write(line("NEWQID2",
                 "to=<a@example.net>, relay=r[127.0.0.1]:25, delay=1, delays=0/0/0/1, dsn=4.4.1, "
                 "status=deferred (connect to r: Connection refused)"));
    REQUIRE(t.poll_once());
    CHECK(f.status("m1", 0) == Deliver::delayed);
    f.write(
        line("NEWQID2",
             "to=<a@example.net>, relay=r[127.0.0.1]:25, delay=9, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"));
    // A late line for the old id changes nothing: the record moved.
    f.write("Nov 27 16:00:00 mx postfix/qmgr[7]: OLDQID1: from=<s@example.com>, status=expired, returned to sender\n");
    REQUIRE(t.poll_once());
    CHECK(f.status("m1", 0) == Deliver::delivered);
    REQUIRE(f.env->view([&](store::Txn& txn) {
        CHECK(f.ms->by_queue_id(txn, "NEWQID2", clock::now()) == std::optional<std::string>("m1"));
        CHECK_FALSE(f.ms->by_queue_id(txn, "OLDQID1", clock::now()));
        CHECK(f.ms->get(txn, "m1")->queue_id == "NEWQID2");
        return ok_status();
    }));
    auto c = f.counters();
    CHECK(c[delivered] == 1);
    CHECK(c[deferred] == 1);
    CHECK(c[bounces] == 0);
    // A requeue of mail sesmilter never saw is ignored.
    f.write("Nov 27 18:21:10 mta postfix/pickup[6]: NEWQID3: uid=0 from=<s@example.com> orig_id=UNKNOWN9\n");
    REQUIRE(t.poll_once());
}
