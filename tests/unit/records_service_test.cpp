// records_service_test.cpp -- the records service's two jobs, one pass each:
// following the MTA's log into the records, and purging old records in
// batches while newer ones stay; and its thread starting and stopping.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "services/records_service.hpp"
#include "services/services.hpp"
#include "warmup/hooks.hpp"
#include "util/clock.hpp"

using namespace ses;

namespace {

struct Fixture {
    std::filesystem::path dir;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<records::MessageStore> ms;
    Fixture() {
        static std::atomic<int> n{0};
        dir = std::filesystem::temp_directory_path() /
              ("ses-records-svc-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        store::Options o;
        o.path = (dir / "store").string();
        env = *store::Env::open(o);
        ms = *records::MessageStore::open(env, {});
    }
    ~Fixture() {
        ms.reset();
        env.reset();
        std::filesystem::remove_all(dir);
    }
    void add(const std::string& id, const std::string& qid, int64_t t) {
        records::MessageRecord m;
        m.id = id;
        m.queue_id = qid;
        m.identity = "example.com";
        m.request_time = t;
        m.recipients.push_back({"bob@example.org", {}});
        REQUIRE(env->update([&](store::Txn& txn) { return ms->add(txn, m); }));
    }
    bool has(const std::string& id) {
        bool found = false;
        REQUIRE(env->view([&](store::Txn& txn) {
            found = ms->get(txn, id).has_value();
            return ok_status();
        }));
        return found;
    }
};

}  // namespace

TEST_CASE("records service: the log is followed into the records", "[records]") {
    Fixture f;
    f.add("m1", "QSVC1", clock::now());
    auto log = f.dir / "maillog";
    std::ofstream(log) << "Nov 27 15:00:00 mx postfix/master[1]: daemon started\n";
    services::RecordsServiceSettings s;
    s.log_file = log.string();
    services::RecordsService svc(f.env, f.ms, s);
    auto n = svc.follow_once();  // first start: from the end of the existing log
    REQUIRE(n);
    CHECK(*n == 0);
    std::ofstream(log, std::ios::app)
        << "Nov 27 15:24:44 mx postfix/smtp[9]: QSVC1: to=<bob@example.org>, relay=mx[192.0.2.1]:25, "
           "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n";
    int events = 0;
    svc.on_event = [&](store::Txn&, const records::MessageRecord& m, const records::Event& e) {
        CHECK(m.id == "m1");
        CHECK(e.type == records::EventType::delivered);
        ++events;
    };
    n = svc.follow_once();
    REQUIRE(n);
    CHECK(*n == 1);
    CHECK(events == 1);
    REQUIRE(f.env->view([&](store::Txn& txn) {
        auto m = f.ms->get(txn, "m1");
        REQUIRE(m);
        CHECK(m->recipients[0].state.deliver == records::Deliver::delivered);
        return ok_status();
    }));
    // Nothing new: nothing read, nothing applied again.
    n = svc.follow_once();
    REQUIRE(n);
    CHECK(*n == 0);
    CHECK(events == 1);
}

TEST_CASE("records service: purge deletes only expired records, in batches", "[records]") {
    Fixture f;
    int64_t now = clock::now();
    size_t old_count = services::RecordsService::kPurgeBatch + 5;  // more than one batch
    for (size_t i = 0; i < old_count; ++i) f.add("old" + std::to_string(i), "QO" + std::to_string(i), now - 40 * 86400);
    f.add("recent", "QR", now - 29 * 86400);
    services::RecordsServiceSettings s;
    s.keep_days = 30;
    services::RecordsService svc(f.env, f.ms, s);
    auto n = svc.purge_once(now);
    REQUIRE(n);
    CHECK(*n == old_count);
    CHECK_FALSE(f.has("old0"));
    CHECK_FALSE(f.has("old" + std::to_string(old_count - 1)));
    CHECK(f.has("recent"));
    n = svc.purge_once(now);
    REQUIRE(n);
    CHECK(*n == 0);
}

TEST_CASE("records service: the thread starts and stops promptly", "[records]") {
    Fixture f;
    services::RecordsServiceSettings s;
    s.log_file = (f.dir / "absent.log").string();  // not there yet: not an error
    s.poll_interval = 3600;
    services::RecordsService svc(f.env, f.ms, s);
    auto t0 = std::chrono::steady_clock::now();
    svc.start();
    svc.stop();
    svc.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("records service: hard bounces and complaints reach the warm-up counters of the sending day",
          "[records][warmup]") {
    Fixture f;
    int64_t sent = clock::now() - 3600;
    f.add("m1", "QFB1", sent);
    f.add("m2", "QFB2", sent);
    warmup::Settings ws;
    auto pol = policy::Policy::open(policy::Settings{}, warmup::hook_defs());
    REQUIRE(pol);
    auto eng = warmup::Engine::open(ws, f.env, *pol);
    REQUIRE(eng);
    std::shared_ptr<warmup::Engine> engine = std::move(*eng);
    auto log = f.dir / "maillog";
    std::ofstream(log) << "Nov 27 15:00:00 mx postfix/master[1]: daemon started\n";
    services::RecordsServiceSettings s;
    s.log_file = log.string();
    services::RecordsService svc(f.env, f.ms, s);
    svc.on_event = services::warmup_feedback(engine);
    REQUIRE(svc.follow_once());
    std::ofstream(log, std::ios::app)
        << "Nov 27 15:24:44 mx postfix/smtp[9]: QFB1: to=<bob@example.org>, relay=mx[192.0.2.1]:25, delay=1, "
           "delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx said: 550 5.1.1 no such user)\n"
        << "Nov 27 15:24:45 mx postfix/smtp[9]: QFB2: to=<bob@example.org>, relay=mx[192.0.2.1]:25, delay=1, "
           "delays=0/0/0/1, dsn=4.4.1, status=deferred (connect timed out)\n";
    REQUIRE(svc.follow_once());
    auto id = warmup::IdentityKey::domain("example.com");
    int32_t day = engine->time_zone().day_of(sent);
    auto c = engine->counters(id, day);
    REQUIRE(c);
    CHECK(c->bounced == 1);  // the hard bounce; a deferral is not reputation
    CHECK(c->complained == 0);
    // Read again after a restart: nothing is counted twice.
    services::RecordsService again(f.env, f.ms, s);
    again.on_event = services::warmup_feedback(engine);
    REQUIRE(again.follow_once());
    c = engine->counters(id, day);
    REQUIRE(c);
    CHECK(c->bounced == 1);
}
