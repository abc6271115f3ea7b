// warmup_test.cpp -- days and time zones, the decision table, the day change
// and upgrade rule, release planning, the forecast, and the engine end to
// end on a real LMDB store (including exact counting under 20 threads).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "mta/adapter.hpp"
#include "mta/postfix.hpp"
#include "mta/sendmail.hpp"
#include "warmup/builtin.hpp"
#include "config/config.hpp"
#include "records/message_store.hpp"
#include "services/api_json.hpp"
#include "services/release_scheduler.hpp"
#include "services/warmup_stack.hpp"
#include "util/clock.hpp"
#include "warmup/engine.hpp"
#include "warmup/model.hpp"
#include "warmup/timezone.hpp"

using namespace ses;
using namespace ses::warmup;

namespace {

int64_t at(const char* rfc3339) { return *clock::parse_rfc3339(rfc3339); }

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-warmup-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// An MTA that remembers what it was asked to release.
struct FakeMta : mta::Adapter {
    std::mutex mu;
    std::vector<std::string> released;
    std::set<std::string> missing;
    bool fail = false;
    std::string_view name() const override { return "fake"; }
    Result<mta::Released> release(std::string_view qid) override {
        std::lock_guard<std::mutex> g(mu);
        if (fail) return internal_error("fake failure");
        if (missing.count(std::string(qid))) return mta::Released::not_held;
        released.emplace_back(qid);
        return mta::Released::yes;
    }
};

// The small plan of the end-to-end tests: 5, 10, 20 a day.
const char* kSmallPlan = R"(
local PLAN = {5, 10, 20}
ses.on("daily_limit", function(identity) return PLAN[math.min(identity.level, #PLAN)] end)
ses.on("should_upgrade", function(identity, y)
  if identity.level >= #PLAN then return false end
  local sent = math.max(y.sent, 1)
  return y.bounced / sent < 0.05 and y.complained / sent < 0.001
end)
)";

struct Fixture {
    TempDir dir;
    std::shared_ptr<store::Env> env;
    std::unique_ptr<Engine> engine;
    int next_qid = 1;

    explicit Fixture(const char* script = kSmallPlan, std::string tz = "UTC") {
        Settings s;
        s.time_zone = std::move(tz);
        store::Options so;
        so.path = dir.path.string();
        s.release_batch = 7;
        auto e = store::Env::open(so);
        REQUIRE(e);
        env = *e;
        policy::Settings ps;
        auto p = script ? policy::Policy::from_source(script, "test.lua", ps, hook_defs())
                        : policy::Policy::open(ps, hook_defs());
        REQUIRE(p);
        auto eng = Engine::open(s, env, *p);
        REQUIRE(eng);
        engine = std::move(*eng);
    }
    ~Fixture() { clock::set_override(std::nullopt); }

    mail::Message message(int rcpts = 1, const std::string& rcpt_domain = "example.org") {
        mail::Message m;
        m.env.mail_from = "news@example.com";
        for (int i = 0; i < rcpts; ++i) m.env.rcpts.push_back("user" + std::to_string(i) + "@" + rcpt_domain);
        char q[16];
        std::snprintf(q, sizeof q, "QID%05d", next_qid++);
        m.env.queue_id = q;
        m.feed_header("Subject", " hi");
        return m;
    }
    Decision::Action admit(int rcpts = 1, const std::string& domain = "example.org") {
        auto m = message(rcpts, domain);
        auto d = engine->admit(m, "Example.COM");
        REQUIRE(d);
        return d->action;
    }
    Counters counters(const char* day) {
        auto c = engine->counters(IdentityKey::domain("example.com"), *parse_date(day));
        REQUIRE(c);
        return *c;
    }
};

using A = Decision::Action;

}  // namespace

TEST_CASE("time zones: UTC, fixed offsets, IANA zones with DST", "[warmup]") {
    auto utc = TimeZone::load("UTC");
    REQUIRE(utc);
    CHECK(utc->day_of(0) == 0);
    CHECK(utc->day_of(-1) == -1);
    CHECK(utc->day_of(at("2026-11-23T23:59:59Z")) == *parse_date("2026-11-23"));
    CHECK(utc->day_start(*parse_date("2026-11-24")) == at("2026-11-24T00:00:00Z"));

    auto plus2 = TimeZone::load("+02:00");
    REQUIRE(plus2);
    CHECK(plus2->day_of(at("2026-11-23T22:30:00Z")) == *parse_date("2026-11-24"));
    CHECK(plus2->day_start(*parse_date("2026-11-24")) == at("2026-11-23T22:00:00Z"));
    auto minus530 = TimeZone::load("UTC-05:30");
    REQUIRE(minus530);
    CHECK(minus530->offset_at(0) == -(5 * 3600 + 1800));
    CHECK(TimeZone::load("-0530")->offset_at(0) == -(5 * 3600 + 1800));

    auto paris = TimeZone::load("Europe/Paris");
    REQUIRE(paris);
    CHECK(paris->offset_at(at("2026-01-15T12:00:00Z")) == 3600);
    CHECK(paris->offset_at(at("2026-07-15T12:00:00Z")) == 7200);
    CHECK(paris->offset_at(at("2026-03-29T00:59:59Z")) == 3600);  // DST starts 01:00 UTC
    CHECK(paris->offset_at(at("2026-03-29T01:00:00Z")) == 7200);
    CHECK(paris->day_start(*parse_date("2026-03-29")) == at("2026-03-28T23:00:00Z"));
    CHECK(paris->day_start(*parse_date("2026-03-30")) == at("2026-03-29T22:00:00Z"));  // a 23-hour day
    CHECK(paris->day_of(at("2026-10-24T22:00:00Z")) == *parse_date("2026-10-25"));
    auto sp = TimeZone::load("America/Sao_Paulo");
    REQUIRE(sp);
    CHECK(sp->day_of(at("2026-11-24T02:00:00Z")) == *parse_date("2026-11-23"));

    for (const char* bad : {"Mars/Olympus", "../etc/passwd", "/etc/passwd", "+25:00", "UTC+x"}) {
        INFO(bad);
        CHECK_FALSE(TimeZone::load(bad));
    }
}

TEST_CASE("civil dates and weekdays", "[warmup]") {
    CHECK(date_string(0) == "1970-01-01");
    CHECK(date_string(*parse_date("2026-11-23")) == "2026-11-23");
    CHECK(iso_weekday(*parse_date("2026-11-23")) == 1);  // a Monday
    CHECK(iso_weekday(*parse_date("2026-11-29")) == 7);
    CHECK_FALSE(parse_date("2026-02-30"));
    CHECK_FALSE(parse_date("2026-1-3"));
    // date_string formats by hand: the same text as printf for every day of
    // years 0 .. 9999 sampled, and the printf path outside them
    for (int32_t day = -719528; day <= 2932896; day += 97) {
        using namespace std::chrono;
        year_month_day ymd{sys_days{days{day}}};
        char buf[24];
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
        if (date_string(day) != buf) {
            INFO(day);
            CHECK(date_string(day) == buf);
        }
    }
    CHECK(date_string(2932897) == "10000-01-01");
    CHECK(date_string(-719529) == "-001-12-31");
}

TEST_CASE("recipients fall into quota groups", "[warmup]") {
    Limit lim{100, {{"gmail", 10, {"gmail.com", "googlemail.com"}}, {"ms", 5, {"outlook.com", "hotmail.com"}}}};
    auto doms = count_domains({"a@Gmail.com", "b@gmail.com", "c@mail.outlook.com", "d@example.org", "e@GMAIL.COM"});
    REQUIRE(doms.size() == 3);
    CHECK(doms[0] == std::pair<std::string, uint32_t>{"gmail.com", 3});
    CHECK(group_of(lim, "mail.outlook.com") == "ms");
    CHECK(group_of(lim, "notgmail.com") == "");
    Need n = need_of(lim, doms);
    CHECK(n.total == 5);
    CHECK(n.groups["gmail"] == 3);
    CHECK(n.groups["ms"] == 1);
}

TEST_CASE("decision table: what fits into today", "[warmup]") {
    Limit lim{10, {{"gmail", 3, {"gmail.com"}}}};
    struct {
        uint64_t sent, gmail_sent;
        std::vector<std::string> rcpts;
        bool paused, ok;
        const char* over;
    } cases[] = {
        {0, 0, {"a@x.org"}, false, true, ""},
        {9, 0, {"a@x.org"}, false, true, ""},
        {10, 0, {"a@x.org"}, false, false, "daily limit"},
        {8, 0, {"a@x.org", "b@x.org", "c@x.org"}, false, false, "daily limit"},  // held whole
        {7, 0, {"a@x.org", "b@x.org", "c@x.org"}, false, true, ""},
        {0, 2, {"a@gmail.com"}, false, true, ""},
        {0, 3, {"a@gmail.com"}, false, false, "group gmail"},
        {0, 3, {"a@x.org"}, false, true, ""},
        {0, 2, {"a@gmail.com", "b@gmail.com"}, false, false, "group gmail"},
        {0, 0, {"a@x.org"}, true, false, "paused"},
    };
    for (auto& c : cases) {
        INFO("sent " << c.sent << " gmail " << c.gmail_sent << " rcpts " << c.rcpts.size() << " paused " << c.paused);
        Usage u;
        u.sent = c.sent;
        u.groups["gmail"] = c.gmail_sent;
        Fit f = fits(lim, u, need_of(lim, count_domains(c.rcpts)), c.paused);
        CHECK(f.ok == c.ok);
        CHECK(f.over == c.over);
    }
    // A zero limit (e.g. a weekend) fits nothing.
    CHECK_FALSE(fits(Limit{0, {}}, Usage{}, Need{1, {}}, false).ok);
}

TEST_CASE("day change: one upgrade question per elapsed day", "[warmup]") {
    struct {
        uint32_t level;
        int32_t day, today;
        bool paused;
        std::set<int32_t> good_days;  // days whose question answers yes
        uint32_t want_level;
        size_t want_questions;
    } cases[] = {
        {1, 100, 100, false, {}, 1, 0},               // same day: nothing
        {1, 100, 101, false, {101}, 2, 1},            // one day, good
        {1, 100, 101, false, {}, 1, 1},               // one day, bad
        {1, 100, 104, false, {101, 102, 104}, 4, 4},  // three of four
        {3, 100, 99, false, {99, 100}, 3, 0},         // clock went back
        {2, 100, 103, true, {101, 102, 103}, 2, 0},   // paused: no upgrades
        {1, 0, 1000, false, {}, 1, 366},              // a long sleep: only the last 366 days
    };
    for (auto& c : cases) {
        INFO("level " << c.level << " from " << c.day << " to " << c.today);
        IdentityState s;
        s.level = c.level;
        s.day = c.day;
        s.paused = c.paused;
        size_t asked = 0;
        auto steps = roll(s, c.today, [&](const IdentityState&, int32_t d) {
            ++asked;
            return c.good_days.count(d) > 0;
        });
        CHECK(s.level == c.want_level);
        CHECK(asked == c.want_questions);
        CHECK(steps.size() == c.want_level - c.level);
        CHECK(s.day == std::max(c.day, c.today));
    }
}

TEST_CASE("release planning: oldest first, a blocked identity waits entirely", "[warmup]") {
    auto quota = [](uint64_t limit, uint64_t used) {
        Quota q;
        q.limit.total = limit;
        q.used.sent = used;
        return q;
    };
    std::map<std::string, Quota> quotas = {{"A", quota(10, 5)}, {"B", quota(3, 0)}, {"IP", quota(100, 0)}};
    auto cand = [](std::vector<std::string> ids, uint32_t n) { return Candidate{std::move(ids), {{"x.org", n}}}; };
    std::vector<Candidate> due = {
        cand({"A"}, 3),        // fits (8)
        cand({"B"}, 4),        // B: does not fit -> B blocked
        cand({"A", "IP"}, 2),  // fits (10)
        cand({"B"}, 1),        // would fit, but an older B message waits
        cand({"A"}, 1),        // A full
        cand({"IP"}, 50),      // fits
    };
    auto plan = plan_release(due, quotas);
    CHECK(plan == std::vector<bool>{true, false, true, false, false, true});
    CHECK(quotas["A"].used.sent == 10);
    CHECK(quotas["IP"].used.sent == 52);
    CHECK(quotas["B"].used.sent == 0);
}

TEST_CASE("forecast under the seed plan", "[warmup]") {
    auto limit_at = [](uint32_t level, int32_t) { return builtin::plan_limit(level); };
    auto good = [](uint32_t level, int32_t, uint64_t) { return level < builtin::max_level(); };
    Forecast f = forecast(1, 1000, 10000, 365, limit_at, good);
    REQUIRE(f.reached == 4);
    CHECK(f.days.size() == 5);
    CHECK(f.days[4].level == 5);
    CHECK(f.days[4].limit == 10000);
    CHECK(f.days[4].day == 1004);
    CHECK(forecast(1, 0, 400, 365, limit_at, good).reached == 0);

    Forecast never = forecast(1, 0, 2000000, 365, limit_at, good);
    CHECK(never.reached == -1);
    CHECK(never.days.back().level == 20);
    CHECK_THAT(never.note, Catch::Contains("stays at 20"));

    auto bad = [](uint32_t, int32_t, uint64_t) { return false; };
    Forecast stuck = forecast(3, 0, 10000, 365, limit_at, bad);
    CHECK(stuck.reached == -1);
    CHECK(stuck.days.size() == 14);
}

TEST_CASE("forecast of the whole plan stops at the top, without the flat days", "[warmup]") {
    auto limit_at = [](uint32_t level, int32_t) { return builtin::plan_limit(level); };
    auto good = [](uint32_t level, int32_t, uint64_t) { return level < builtin::max_level(); };
    Forecast f = forecast(1, 1000, kWholePlan, 365, limit_at, good);
    REQUIRE(f.settled);
    REQUIRE(f.days.size() == 20);
    CHECK(f.reached == 19);
    CHECK(f.days.front().level == 1);
    CHECK(f.days.back().level == 20);
    CHECK(f.days.back().limit == 1000000);
    CHECK(f.days.back().day == 1019);
    // The same figures as a forecast to the top's volume.
    Forecast v = forecast(1, 1000, 1000000, 365, limit_at, good);
    REQUIRE(v.days.size() == f.days.size());
    for (size_t i = 0; i < v.days.size(); ++i) CHECK(v.days[i].limit == f.days[i].limit);

    // From level 18: three days.
    CHECK(forecast(18, 0, kWholePlan, 365, limit_at, good).days.size() == 3);
    // A reputation that holds the level: one day, today's.
    auto bad = [](uint32_t, int32_t, uint64_t) { return false; };
    Forecast stuck = forecast(3, 7, kWholePlan, 365, limit_at, bad);
    REQUIRE(stuck.days.size() == 1);
    CHECK(stuck.reached == 0);
    CHECK(stuck.days[0].level == 3);
    CHECK_THAT(stuck.note, Catch::Contains("stays at 3"));
    // A plan that grows forever: the horizon, not reached.
    auto endless = [](uint32_t, int32_t, uint64_t) { return true; };
    Forecast open_ended = forecast(1, 0, kWholePlan, 30, limit_at, endless);
    CHECK(open_ended.days.size() == 30);
    CHECK(open_ended.reached == -1);
    CHECK_FALSE(open_ended.settled);
}

TEST_CASE("engine: day 1 holds the sixth message, day 2 releases it and counts it there", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) CHECK(fx.admit() == A::accept);
    auto m = fx.message();
    auto d = fx.engine->admit(m, "example.com");
    REQUIRE(d);
    CHECK(d->action == A::hold);
    CHECK(d->release_at == at("2026-11-24T10:00:00Z"));
    CHECK_THAT(d->reason, Catch::Contains("example.com") && Catch::Contains("2026-11-24T10:00:00Z"));
    CHECK(d->limit == 5);
    CHECK(d->used == 5);
    auto c1 = fx.counters("2026-11-23");
    CHECK(c1.sent == 5);
    CHECK(c1.held == 1);

    auto held = fx.engine->held();
    REQUIRE(held);
    REQUIRE(held->size() == 1);
    CHECK(held->at(0).queue_id == m.env.queue_id);
    CHECK(held->at(0).recipients == 1);
    CHECK(held->at(0).release_at == d->release_at);

    FakeMta mta;
    auto r = services::release_pass(*fx.engine, mta);  // not due yet
    REQUIRE(r);
    CHECK(r->released == 0);
    CHECK(mta.released.empty());

    // The apply() stage quarantines held mail.
    auto m2 = fx.message();
    CHECK(apply(*fx.engine, m2, "example.com"));
    REQUIRE(m2.edits().size() == 1);
    CHECK(m2.edits()[0].kind == mail::Edit::Kind::quarantine);

    clock::set_override(at("2026-11-24T10:00:00Z"));
    auto st = fx.engine->status(IdentityKey::domain("example.com"));
    REQUIRE(st);
    CHECK(st->state.level == 2);
    CHECK(st->limit.total == 10);
    CHECK(st->held_messages == 2);

    r = services::release_pass(*fx.engine, mta);
    REQUIRE(r);
    CHECK(r->released == 2);  // both were held at 10:00 on day 1
    CHECK(mta.released == std::vector<std::string>{m.env.queue_id, m2.env.queue_id});
    auto c2 = fx.counters("2026-11-24");
    CHECK(c2.sent == 2);
    CHECK(c2.released == 2);
    CHECK(fx.counters("2026-11-23").sent == 5);
    CHECK(fx.engine->held()->empty());
}

TEST_CASE("engine: a bad-reputation day does not upgrade", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) fx.admit();
    REQUIRE(fx.engine->add_feedback(IdentityKey::domain("example.com"), 1, 0));  // 20 % bounces
    clock::set_override(at("2026-11-24T00:00:01Z"));
    auto st = fx.engine->status(IdentityKey::domain("example.com"));
    REQUIRE(st);
    CHECK(st->state.level == 1);
    CHECK(st->limit.total == 5);
    // A clean day afterwards upgrades again.
    for (int i = 0; i < 5; ++i) CHECK(fx.admit() == A::accept);
    CHECK(fx.admit() == A::hold);
    clock::set_override(at("2026-11-25T00:00:01Z"));
    CHECK(fx.engine->status(IdentityKey::domain("example.com"))->state.level == 2);
}

TEST_CASE("engine: a multi-recipient message that does not fit is held whole", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    CHECK(fx.admit(3) == A::accept);
    CHECK(fx.admit(3) == A::hold);  // 3 + 3 > 5
    CHECK(fx.admit(2) == A::accept);
    auto c = fx.counters("2026-11-23");
    CHECK(c.sent == 5);
    CHECK(c.held == 3);
}

TEST_CASE("engine: on_over_quota decides hold, tempfail, reject or accept", "[warmup][engine]") {
    std::string script = std::string(kSmallPlan) + R"(
ses.on("on_over_quota", function(message, identity)
  local d = message.recipients[1].domain
  if d == "t.example" then return {action = "tempfail", reply = "452 4.2.2 later"} end
  if d == "r.example" then return {action = "reject"} end
  if d == "a.example" then return {action = "accept"} end
  if d == "bad.example" then return {action = "explode"} end
  return {action = "hold", release_in = 3600}
end)
)";
    Fixture fx(script.c_str());
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) fx.admit();
    struct {
        const char* domain;
        A action;
        const char* reply;
    } cases[] = {
        {"t.example", A::tempfail, "452 4.2.2 later"},
        {"r.example", A::reject, "550 5.7.1 daily sending quota exceeded"},
        {"a.example", A::accept, ""},
        {"h.example", A::hold, ""},
        {"bad.example", A::hold, ""},  // nonsense -> built-in rule: hold 24 h
    };
    for (auto& c : cases) {
        INFO(c.domain);
        auto m = fx.message(1, c.domain);
        auto d = fx.engine->admit(m, "example.com");
        REQUIRE(d);
        CHECK(d->action == c.action);
        CHECK(d->reply.str() == (c.reply[0] ? std::string(c.reply) : std::string("  ")));
        if (std::string(c.domain) == "h.example") CHECK(d->release_at == at("2026-11-23T11:00:00Z"));
        if (std::string(c.domain) == "bad.example") CHECK(d->release_at == at("2026-11-24T10:00:00Z"));
    }
    auto c = fx.counters("2026-11-23");
    CHECK(c.sent == 6);  // the accepted one is counted
    CHECK(c.held == 2);
    // tempfail/reject become SMTP replies at the stage.
    auto m = fx.message(1, "r.example");
    Status s = apply(*fx.engine, m, "example.com");
    REQUIRE_FALSE(s);
    CHECK(s.error().reply.code == "550");
}

TEST_CASE("engine: without a queue id a hold becomes a tempfail", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) fx.admit();
    auto m = fx.message();
    m.env.queue_id.clear();
    auto d = fx.engine->admit(m, "example.com");
    REQUIRE(d);
    CHECK(d->action == A::tempfail);
    CHECK(d->reply.code == "451");
    CHECK(fx.engine->held()->empty());
}

TEST_CASE("engine: pause holds everything, resume sends again; set-level", "[warmup][engine]") {
    Fixture fx;
    auto id = IdentityKey::domain("example.com");
    clock::set_override(at("2026-11-23T10:00:00Z"));
    CHECK(fx.admit() == A::accept);
    REQUIRE(fx.engine->set_paused(id, true));
    CHECK(fx.admit() == A::hold);
    clock::set_override(at("2026-11-24T10:00:00Z"));
    CHECK(fx.engine->status(id)->state.level == 1);  // no upgrade while paused
    FakeMta mta;
    auto r = services::release_pass(*fx.engine, mta);
    REQUIRE(r);
    CHECK(r->released == 0);
    CHECK(r->deferred == 1);
    CHECK(fx.engine->held()->at(0).release_at == at("2026-11-25T00:00:00Z"));
    REQUIRE(fx.engine->set_paused(id, false));
    CHECK(fx.admit() == A::accept);
    REQUIRE(fx.engine->set_level(id, 3));
    auto st = fx.engine->status(id);
    CHECK(st->state.level == 3);
    CHECK(st->limit.total == 20);
    REQUIRE(st->history.size() >= 3);
    CHECK(st->history.back().reason == "set-level");
    CHECK(st->history.back().from == 1);
    CHECK(st->history.back().to == 3);
}

TEST_CASE("engine: releases wait for quota, oldest first, across days", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) fx.admit();
    std::vector<std::string> held;
    for (int i = 0; i < 25; ++i) {
        clock::set_override(at("2026-11-23T10:00:00Z") + i);
        auto m = fx.message();
        auto d = fx.engine->admit(m, "example.com");
        REQUIRE(d->action == A::hold);
        held.push_back(m.env.queue_id);
    }
    FakeMta mta;
    clock::set_override(at("2026-11-24T12:00:00Z"));  // level 2: 10 a day
    auto r = services::release_pass(*fx.engine, mta);
    REQUIRE(r);
    CHECK(r->released == 10);
    CHECK(r->deferred == 15);
    CHECK(mta.released == std::vector<std::string>(held.begin(), held.begin() + 10));
    CHECK(fx.counters("2026-11-24").sent == 10);
    CHECK(fx.admit() == A::hold);                     // today's quota went to released mail
    clock::set_override(at("2026-11-25T00:00:30Z"));  // level 3: 20 a day
    r = services::release_pass(*fx.engine, mta);
    REQUIRE(r);
    CHECK(r->released == 15);
    CHECK(std::vector<std::string>(mta.released.begin() + 10, mta.released.end()) ==
          std::vector<std::string>(held.begin() + 10, held.end()));
    CHECK(fx.counters("2026-11-25").released == 15);
    CHECK(fx.engine->held()->size() == 1);  // the one held on day 2, due on day 3 at 12:00
}

TEST_CASE("engine: MTA failures are retried without charging twice", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) fx.admit();
    auto gone = fx.message();
    REQUIRE(fx.engine->admit(gone, "example.com")->action == A::hold);
    auto stuck = fx.message();
    REQUIRE(fx.engine->admit(stuck, "example.com")->action == A::hold);

    FakeMta mta;
    mta.missing.insert(gone.env.queue_id);
    mta.fail = false;
    clock::set_override(at("2026-11-24T11:00:00Z"));
    FakeMta failing;
    failing.fail = true;
    auto r = services::release_pass(*fx.engine, failing);
    REQUIRE(r);
    CHECK(r->failed == 2);
    CHECK(fx.counters("2026-11-24").sent == 2);   // charged when tried
    r = services::release_pass(*fx.engine, mta);  // too early to retry
    REQUIRE(r);
    CHECK(r->released == 0);
    clock::set_override(at("2026-11-24T11:10:00Z"));
    r = services::release_pass(*fx.engine, mta);
    REQUIRE(r);
    CHECK(r->released == 1);
    CHECK(r->not_held == 1);
    CHECK(mta.released == std::vector<std::string>{stuck.env.queue_id});
    CHECK(fx.counters("2026-11-24").sent == 2);  // not charged again
    CHECK(fx.engine->held()->empty());
}

TEST_CASE("engine: per-provider caps from a script", "[warmup][engine]") {
    const char* script = R"(
ses.on("daily_limit", function(identity)
  return { total = 10, groups = { gmail = { limit = 2, domains = { "gmail.com" } } } }
end)
)";
    Fixture fx(script);
    clock::set_override(at("2026-11-23T10:00:00Z"));
    CHECK(fx.admit(2, "gmail.com") == A::accept);
    CHECK(fx.admit(1, "gmail.com") == A::hold);
    CHECK(fx.admit(5, "example.org") == A::accept);
    auto st = fx.engine->status(IdentityKey::domain("example.com"));
    REQUIRE(st);
    CHECK(st->usage.groups["gmail"] == 2);
    CHECK(st->remaining == 3);
}

TEST_CASE("engine: a broken script falls back to the built-in plan", "[warmup][engine]") {
    Fixture fx("ses.on('daily_limit', function() while true do end end)");
    clock::set_override(at("2026-11-23T10:00:00Z"));
    auto st = fx.engine->status(IdentityKey::domain("x.example"));
    CHECK_FALSE(st);  // unknown identity
    CHECK(fx.admit() == A::accept);
    auto s = fx.engine->status(IdentityKey::domain("example.com"));
    REQUIRE(s);
    CHECK(s->limit.total == 500);
    CHECK(fx.engine->policy().fallbacks() >= 1);
}

TEST_CASE("engine: the sending IP is a second identity", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 3; ++i) {
        auto m = fx.message();
        CHECK(fx.engine->admit(m, "a.example", "192.0.2.1")->action == A::accept);
    }
    for (int i = 0; i < 2; ++i) {
        auto m = fx.message();
        CHECK(fx.engine->admit(m, "b.example", "192.0.2.1")->action == A::accept);
    }
    auto m = fx.message();
    auto d = fx.engine->admit(m, "b.example", "192.0.2.1");
    CHECK(d->action == A::hold);  // the IP's 5 are used, b.example has room
    CHECK(d->identity == "ip:192.0.2.1");
    auto all = fx.engine->status_all();
    REQUIRE(all);
    CHECK(all->size() == 3);
}

TEST_CASE("engine: 20 threads against a limit of 50 admit exactly 50", "[warmup][engine][concurrency]") {
    const char* script = "ses.on('daily_limit', function() return 50 end)";
    Fixture fx(script);
    clock::set_override(at("2026-11-23T10:00:00Z"));
    std::atomic<int> accepted{0}, held{0}, errors{0}, qid{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 20; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                mail::Message m;
                m.env.mail_from = "a@example.com";
                m.env.rcpts = {"x@example.org"};
                m.env.queue_id = "Q" + std::to_string(100000 + qid++);
                auto d = fx.engine->admit(m, "example.com");
                if (!d)
                    errors++;
                else if (d->action == A::accept)
                    accepted++;
                else if (d->action == A::hold)
                    held++;
            }
        });
    for (auto& t : ts) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 50);
    CHECK(held == 150);
    auto c = fx.counters("2026-11-23");
    CHECK(c.sent == 50);
    CHECK(c.held == 150);
    CHECK(fx.engine->held()->size() == 150);
}

TEST_CASE("engine: forecast from the store", "[warmup][engine]") {
    Fixture fx(nullptr);  // built-in rules
    clock::set_override(at("2026-11-23T10:00:00Z"));
    fx.admit();
    auto f = fx.engine->forecast(IdentityKey::domain("example.com"), 100000);
    REQUIRE(f);
    REQUIRE(f->reached == 9);
    CHECK(f->days[9].limit == 100000);
    CHECK(f->days[0].day == *parse_date("2026-11-23"));
    // With yesterday's bounce rate at 10 % it never gets there.
    clock::set_override(at("2026-11-24T10:00:00Z"));
    REQUIRE(fx.engine->add_feedback(IdentityKey::domain("example.com"), 10, 0, *parse_date("2026-11-23")));
    f = fx.engine->forecast(IdentityKey::domain("example.com"), 100000);
    REQUIRE(f);
    CHECK(f->reached == -1);
}

TEST_CASE("engine: the status's forecast curve, in the one JSON builder", "[warmup][engine]") {
    Fixture fx(nullptr);  // built-in rules
    clock::set_override(at("2026-11-23T10:00:00Z"));
    fx.admit();
    auto plain = fx.engine->status_all();
    REQUIRE(plain);
    REQUIRE(plain->size() == 1);
    CHECK_FALSE((*plain)[0].forecast);
    CHECK_FALSE(services::api::warmup_identity((*plain)[0]).contains("forecast"));

    auto all = fx.engine->status_all(true);
    REQUIRE(all);
    REQUIRE((*all)[0].forecast);
    auto j = services::api::warmup_identity((*all)[0]);
    REQUIRE(j.contains("forecast"));
    const auto& f = j["forecast"];
    CHECK(f["reached"] == true);
    CHECK(f["days"] == 19);
    CHECK(f["date"] == "2026-12-12");
    REQUIRE(f["plan"].size() == 20);
    CHECK(f["plan"][0] == services::api::json{{"date", "2026-11-23"}, {"level", 1}, {"limit", 500}});
    CHECK(f["plan"][19] == services::api::json{{"date", "2026-12-12"}, {"level", 20}, {"limit", 1000000}});
    // Equal to `sesctl warmup forecast --volume TOP` (same builder).
    auto to_top = fx.engine->forecast(IdentityKey::domain("example.com"), 1000000);
    REQUIRE(to_top);
    CHECK(services::api::warmup_forecast(*to_top)["plan"] == f["plan"]);

    auto one = fx.engine->status(IdentityKey::domain("example.com"), true);
    REQUIRE(one);
    REQUIRE(one->forecast);
    CHECK(one->forecast->days.size() == 20);
}

TEST_CASE("engine: the status's forecast stops asking a failing policy", "[warmup][engine]") {
    // should_upgrade fails from the second day on: every call would fall
    // back; the curve stops at the first failure and says so.
    Fixture fx(R"(
ses.on("daily_limit", function(identity) return 100 * identity.level end)
ses.on("should_upgrade", function(identity, yesterday)
  if identity.level >= 2 then error("broken rule") end
  return true
end)
)");
    clock::set_override(at("2026-11-23T10:00:00Z"));
    fx.admit();
    const uint64_t before = fx.engine->policy().fallbacks();
    auto st = fx.engine->status(IdentityKey::domain("example.com"), true);
    REQUIRE(st);
    REQUIRE(st->forecast);
    CHECK(st->forecast->reached == -1);
    CHECK_THAT(st->forecast->note, Catch::Contains("incomplete: the policy failed"));
    CHECK(fx.engine->policy().fallbacks() - before == 1);  // asked no more after the failure
    REQUIRE(st->forecast->days.size() >= 2);
    CHECK(st->forecast->days[1].limit == 200);
    // `sesctl warmup forecast` (a volume) asks on, as it always did (the
    // built-in rule answers for the failing hook).
    auto f = fx.engine->forecast(IdentityKey::domain("example.com"), 1000, 30);
    REQUIRE(f);
    CHECK(f->reached == 9);
    CHECK(fx.engine->policy().fallbacks() - before > 2);
}

TEST_CASE("MTA adapters: queue ids, postsuper output, sendmail commands", "[warmup][mta]") {
    CHECK(mta::valid_queue_id("4ZxLhB0Qz1z9sXv"));
    CHECK(mta::valid_queue_id("ABCDEF123"));
    CHECK_FALSE(mta::valid_queue_id("ALL"));
    CHECK_FALSE(mta::valid_queue_id("-d ALL"));
    CHECK_FALSE(mta::valid_queue_id("AB/../C"));
    CHECK_FALSE(mta::valid_queue_id(""));
    CHECK(mta::PostfixAdapter::released_count(
              "postsuper: ABC: released from hold\npostsuper: Released from hold: 1 message") == 1);
    CHECK(mta::PostfixAdapter::released_count("postsuper: Released from hold: 0 messages") == 0);
    CHECK(mta::PostfixAdapter::released_count("postsuper: fatal: whatever") == -1);
    mta::Settings s;
    s.kind = mta::Kind::sendmail;
    s.config_directory = "/etc/mail";
    s.command_prefix = {"sudo", "-n"};
    mta::SendmailAdapter sm(s);
    CHECK(sm.unquarantine_command("q1ABCDEF012345") == std::vector<std::string>{"sudo", "-n", "sendmail",
                                                                                "-C/etc/mail/sendmail.cf", "-qQ", "-Q",
                                                                                "-qIq1ABCDEF012345"});
    CHECK(sm.run_command("q1ABCDEF012345").back() == "-qIq1ABCDEF012345");
    // A real run through a stand-in postsuper.
    TempDir d;
    std::filesystem::create_directories(d.path);
    auto fake = (d.path / "postsuper").string();
    {
        FILE* f = std::fopen(fake.c_str(), "w");
        std::fputs(
            "#!/bin/sh\necho \"postsuper: Released from hold: $([ \"$4\" = GONE12 ] && echo 0 || echo 1) message\" "
            ">&2\n",
            f);
        std::fclose(f);
    }
    std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
    mta::Settings p;
    p.postsuper = fake;
    p.postqueue = "/bin/true";
    mta::PostfixAdapter pf(p);
    auto r = pf.release("ABCDE12");
    REQUIRE(r);
    CHECK(*r == mta::Released::yes);
    r = pf.release("GONE12");
    REQUIRE(r);
    CHECK(*r == mta::Released::not_held);
    CHECK_FALSE(pf.release("ALL"));
    p.postsuper = (d.path / "missing").string();
    CHECK_FALSE(mta::PostfixAdapter(p).release("ABCDE12"));
}

TEST_CASE("the release scheduler releases due mail in its thread", "[warmup][engine]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) fx.admit();
    REQUIRE(fx.admit() == A::hold);
    clock::set_override(at("2026-11-24T10:00:00Z"));
    auto mta = std::make_unique<FakeMta>();
    FakeMta* seen = mta.get();
    services::ReleaseScheduler sched(*fx.engine, std::move(mta), 3600);
    sched.start();
    for (int i = 0; i < 500 && sched.passes() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    sched.stop();
    CHECK_FALSE(sched.running());
    REQUIRE(sched.passes() >= 1);
    std::lock_guard<std::mutex> g(seen->mu);
    CHECK(seen->released.size() == 1);
}

namespace {

// An engine on a fresh store with a script and policy limits of its own.
struct ScriptFixture {
    TempDir dir;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<policy::Policy> policy;
    std::unique_ptr<Engine> engine;
    ScriptFixture(const char* script, uint64_t instructions, int64_t time_limit_ms) {
        Settings s;
        store::Options so;
        so.path = dir.path.string();
        policy::Settings ps;
        ps.instruction_limit = instructions;
        ps.time_limit_ms = time_limit_ms;
        auto e = store::Env::open(so);
        REQUIRE(e);
        env = *e;
        auto p = policy::Policy::from_source(script, "test.lua", ps, hook_defs());
        REQUIRE(p);
        policy = *p;
        auto eng = Engine::open(s, env, policy);
        REQUIRE(eng);
        engine = std::move(*eng);
    }
    ~ScriptFixture() { clock::set_override(std::nullopt); }
};

mail::Message message_to(const std::string& rcpt, int n) {
    mail::Message m;
    m.env.mail_from = "a@example.com";
    m.env.rcpts = {rcpt};
    m.env.queue_id = "Q" + std::to_string(200000 + n);
    return m;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("engine: slow hooks decided in parallel never overshoot a limit or a group",
          "[warmup][engine][concurrency]") {
    // The hooks burn time so that decisions interleave: each thread decides
    // outside the write transaction and the re-check must catch the rest.
    ScriptFixture fx(R"(
local function burn() local x = 0 for i = 1, 20000 do x = x + i end return x end
ses.on('daily_limit', function(id)
  burn()
  return {total = 100, groups = {gmail = {limit = 30, domains = {'gmail.com'}}}}
end)
ses.on('on_over_quota', function(m, id) burn() return {action = 'hold'} end)
)",
                     10'000'000, 5000);
    clock::set_override(at("2026-11-23T10:00:00Z"));
    std::atomic<int> accepted{0}, gmail{0}, held{0}, errors{0}, qid{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 20; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                bool to_gmail = (t + i) % 2 == 0;
                auto m = message_to(to_gmail ? "x@gmail.com" : "x@example.org", qid++);
                auto d = fx.engine->admit(m, "example.com");
                if (!d)
                    errors++;
                else if (d->action == A::accept) {
                    accepted++;
                    if (to_gmail) gmail++;
                } else if (d->action == A::hold)
                    held++;
            }
        });
    for (auto& t : ts) t.join();
    CHECK(errors == 0);
    CHECK(accepted == 100);
    CHECK(gmail <= 30);
    CHECK(held == 100);
    auto st = fx.engine->status(IdentityKey::domain("example.com"));
    REQUIRE(st);
    CHECK(st->counters.sent == 100);
    CHECK(st->counters.held == 100);
    CHECK(st->usage.groups["gmail"] == static_cast<uint64_t>(gmail.load()));
    CHECK(fx.policy->fallbacks() == 0);
}

TEST_CASE("engine: a stalled hook delays only its own message, not others nor the operator",
          "[warmup][engine][escape]") {
    // slow.example's daily_limit never ends on its own (pcall catches the
    // budget error) until the time limit; other identities must go on.
    ScriptFixture fx(R"(
ses.on('daily_limit', function(id)
  if id.name == 'slow.example' then while true do pcall(function() while true do end end) end end
  return 1000
end)
)",
                     1'000'000'000, 1500);
    clock::set_override(at("2026-11-23T10:00:00Z"));
    std::atomic<bool> slow_done{false};
    Result<Decision> slow = internal_error("not run");
    double slow_took = 0;
    std::thread t([&] {
        auto t0 = std::chrono::steady_clock::now();
        slow = fx.engine->admit(message_to("x@example.org", 1), "slow.example");
        slow_took = seconds_since(t0);
        slow_done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (int i = 0; i < 5; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto d = fx.engine->admit(message_to("x@example.org", 10 + i), "fast.example");
        REQUIRE(d);
        CHECK(d->action == A::accept);
        CHECK(d->limit == 1000);
        CHECK(seconds_since(t0) < 0.5);
    }
    auto t0 = std::chrono::steady_clock::now();
    auto st = fx.engine->status(IdentityKey::domain("fast.example"));
    REQUIRE(st);
    CHECK(st->counters.sent == 5);
    CHECK(fx.engine->set_level(IdentityKey::domain("fast.example"), 3));
    CHECK(seconds_since(t0) < 0.5);
    CHECK_FALSE(slow_done);  // it was still stalled meanwhile
    t.join();
    REQUIRE(slow);
    CHECK(slow->action == A::accept);  // the built-in plan: 500 on level 1
    CHECK(slow->limit == builtin::plan_limit(1));
    CHECK(slow_took < 3.0);
    CHECK(fx.policy->stalls() == 1);
}

TEST_CASE("one builder opens store, policy and engine from a configuration", "[warmup]") {
    TempDir dir;
    auto cfg = config::load_string(
        "[warmup]\nenabled = true\ntime_zone = \"+02:00\"\nhold_duration = \"2h\"\n"
        "[store]\npath = \"" +
            dir.path.string() + "\"\n[policy]\ntime_limit_ms = 50\n[mta]\nkind = \"sendmail\"\n",
        "t.toml");
    REQUIRE(cfg);
    auto w = services::open_warmup_stack(*cfg);
    INFO((w ? "" : w.error().what));
    REQUIRE(w);
    CHECK(w->settings.hold_duration == 7200);
    CHECK(w->engine->time_zone().name() == "+02:00");
    CHECK(w->policy_settings.time_limit_ms == 50);
    CHECK(w->mta_settings.kind == mta::Kind::sendmail);
    CHECK(w->policy->describe() == "built-in rules");
    CHECK(std::filesystem::exists(dir.path / "data.mdb"));
    // A second stack on the same store shares the environment (one per process).
    auto again = services::open_warmup_stack(*cfg);
    REQUIRE(again);
    CHECK(again->env == w->env);

    // --check-config's view of the script: warnings for would-be hooks.
    auto script = dir.path / "w.lua";
    std::ofstream(script) << "function on_over_quota(m, id) return {action = 'reject'} end\n";
    auto cfg2 = config::load_string("[policy]\nscript = \"" + script.string() + "\"\n", "t.toml");
    REQUIRE(cfg2);
    auto warnings = services::check_warmup_script(*cfg2);
    REQUIRE(warnings);
    REQUIRE(warnings->size() == 1);
    CHECK_THAT(warnings->at(0), Catch::Contains("on_over_quota"));
}

TEST_CASE("release pass: a released message's recipients get a `released` event", "[warmup][engine][webhook]") {
    Fixture fx;
    clock::set_override(at("2026-11-23T10:00:00Z"));
    for (int i = 0; i < 5; ++i) CHECK(fx.admit() == A::accept);
    auto m = fx.message(2);
    auto d = fx.engine->admit(m, "example.com");
    REQUIRE(d);
    REQUIRE(d->action == A::hold);
    auto ms = records::MessageStore::open(fx.env, {});
    REQUIRE(ms);
    records::MessageRecord rec;
    rec.id = "m-held";
    rec.queue_id = m.env.queue_id;
    rec.identity = "example.com";
    rec.request_time = clock::now();
    for (auto& r : m.env.rcpts) {
        records::RecipientRecord rr;
        rr.address = r;
        rr.state.send_status = records::send_status::daily_limit;
        rec.recipients.push_back(rr);
    }
    REQUIRE(fx.env->update([&](store::Txn& txn) { return (*ms)->add(txn, rec); }));

    clock::set_override(at("2026-11-24T10:00:00Z"));
    FakeMta mta;
    auto r = services::release_pass(*fx.engine, mta, ms->get());
    REQUIRE(r);
    CHECK(r->released == 1);
    auto txn = fx.env->begin_read();
    REQUIRE(txn);
    std::vector<std::pair<std::string, std::string>> got;
    for (auto& e : (*ms)->events(*txn, 0, 100)) got.emplace_back(records::event_name(e.type), e.recipient);
    CHECK(got == std::vector<std::pair<std::string, std::string>>{{"processed", "user0@example.org"},
                                                                  {"held", "user0@example.org"},
                                                                  {"processed", "user1@example.org"},
                                                                  {"held", "user1@example.org"},
                                                                  {"released", "user0@example.org"},
                                                                  {"released", "user1@example.org"}});
}
