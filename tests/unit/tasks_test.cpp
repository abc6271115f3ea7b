// tasks_test.cpp -- task requests (the product's fields, times and time
// zones), the task store (ids, pause/resume/cancel rules, recipient state)
// and the message a task submits.
#include <catch2/catch.hpp>

#include "records/tasks.hpp"
#include "services/task_runner.hpp"
#include "temp_records.hpp"
#include "util/clock.hpp"

using namespace ses;
using records::parse_task_request;
using records::parse_task_time;
using records::TaskStatus;

namespace {
const int64_t kNow = *clock::parse_rfc3339("2026-11-27T10:00:00Z");
}

TEST_CASE("task times: YYYY-MM-DD HH:MM:SS in UTC or an offset", "[tasks]") {
    CHECK(parse_task_time("2026-11-27 10:00:00", "") == kNow);
    CHECK(parse_task_time("2026-11-27 10:00:00", "UTC") == kNow);
    CHECK(parse_task_time("2026-11-27 18:00:00", "+08:00") == kNow);
    CHECK(parse_task_time("2026-11-27 05:00:00", "-05:00") == kNow);
    CHECK_FALSE(parse_task_time("2026-11-27T10:00:00", ""));
    CHECK_FALSE(parse_task_time("2026-11-27 10:00", ""));
    CHECK_FALSE(parse_task_time("2026-11-27 10:00:00", "Europe/Lisbon"));
    CHECK(records::format_task_time(kNow) == "2026-11-27 10:00:00");
}

TEST_CASE("task requests: the three types and their parameters", "[tasks]") {
    auto now = parse_task_request(
        R"({"TaskType": 1, "FromEmailAddress": "a@example.com", "GroupId": 3, "Subject": "Hi",
            "Template": {"TemplateName": "t"}})",
        kNow);
    REQUIRE(now);
    CHECK(now->type == 1);
    CHECK(now->group == 3);
    CHECK(now->next_run == kNow);
    auto timed = parse_task_request(
        R"({"TaskType": 2, "FromEmailAddress": "a@example.com", "ReceiverId": 4, "Template": {"TemplateName": "t"},
            "TimedParam": {"BeginTime": "2026-11-28 09:30:00"}, "TimeZone": "+01:00"})",
        kNow);
    REQUIRE(timed);
    CHECK(timed->group == 4);
    CHECK(timed->next_run == *clock::parse_rfc3339("2026-11-28T08:30:00Z"));
    auto cycle = parse_task_request(
        R"({"TaskType": 3, "FromEmailAddress": "a@example.com", "GroupId": 1, "Template": {"TemplateName": "t"},
            "CycleParam": {"BeginTime": "2026-11-27 12:00:00", "IntervalTime": 24, "TermCycle": 0,
                           "EndTime": "2026-12-31 00:00:00", "MaxRuns": 5}})",
        kNow);
    REQUIRE(cycle);
    CHECK(cycle->interval == 86400);
    CHECK(cycle->max_runs == 5);
    CHECK(cycle->end == *clock::parse_rfc3339("2026-12-31T00:00:00Z"));
}

TEST_CASE("task requests: every bad field is named", "[tasks]") {
    std::string base = R"("FromEmailAddress": "a@example.com", "Template": {"TemplateName": "t"})";
    auto err = [&](const std::string& body) {
        auto r = parse_task_request(body, kNow);
        REQUIRE_FALSE(r);
        return r.error().what;
    };
    CHECK_THAT(err("[]"), Catch::Contains("JSON object"));
    CHECK_THAT(err(R"({"TaskType": 5, )" + base + "}"), Catch::Contains("TaskType"));
    CHECK_THAT(err(R"({"TaskType": 1, )" + base + "}"), Catch::Contains("GroupId"));
    CHECK_THAT(err(R"({"TaskType": 1, "GroupId": 1, "Template": {"TemplateName": "t"}})"),
               Catch::Contains("FromEmailAddress"));
    CHECK_THAT(err(R"({"TaskType": 1, "GroupId": 1, "FromEmailAddress": "a@example.com"})"),
               Catch::Contains("Template"));
    CHECK_THAT(err(R"({"TaskType": 1, "GroupId": 1, "Subject": "Ol\u00e1", )" + base + "}"),
               Catch::Contains("Subject"));
    CHECK_THAT(err(R"({"TaskType": 1, "GroupId": 1, "Subject": "a\r\nBcc: x@y", )" + base + "}"),
               Catch::Contains("Subject"));
    CHECK_THAT(err(R"({"TaskType": 2, "GroupId": 1, )" + base + "}"), Catch::Contains("TimedParam"));
    CHECK_THAT(err(R"({"TaskType": 2, "GroupId": 1, "TimedParam": {"BeginTime": "soon"}, )" + base + "}"),
               Catch::Contains("TimedParam.BeginTime"));
    CHECK_THAT(
        err(R"({"TaskType": 3, "GroupId": 1, "CycleParam": {"BeginTime": "2026-11-27 12:00:00"}, )" + base + "}"),
        Catch::Contains("IntervalTime"));
    CHECK_THAT(err(R"({"TaskType": 3, "GroupId": 1, "CycleParam": {"BeginTime": "2026-11-27 12:00:00",
                   "IntervalTime": 1, "TermCycle": 2}, )" +
                   base + "}"),
               Catch::Contains("TermCycle"));
}

TEST_CASE("task store: ids, status changes and recipient state", "[tasks]") {
    test::TempRecords tr("tasks");
    records::Tasks tasks(tr.env);
    auto t = parse_task_request(
        R"({"TaskType": 1, "FromEmailAddress": "a@example.com", "GroupId": 3, "Template": {"TemplateName": "t"}})",
        kNow);
    REQUIRE(t);
    auto id = tasks.create(*t);
    REQUIRE(id);
    CHECK(*tasks.create(*t) == *id + 1);
    CHECK((*tasks.get(*id))->status == TaskStatus::pending);
    CHECK_FALSE(tasks.control(*id, "resume"));  // not paused
    CHECK(tasks.control(*id, "pause")->status == TaskStatus::paused);
    CHECK_FALSE(tasks.control(*id, "pause"));
    CHECK(tasks.control(*id, "resume")->status == TaskStatus::pending);
    CHECK(tasks.control(*id, "cancel")->status == TaskStatus::cancelled);
    auto again = tasks.control(*id, "cancel");
    REQUIRE_FALSE(again);
    CHECK_THAT(again.error().what, Catch::Contains("cancelled"));
    CHECK_FALSE(tasks.control(999, "pause"));
    CHECK_FALSE(tasks.control(*id, "explode"));

    REQUIRE(tr.env->update([&](store::Txn& txn) -> Status {
        for (const char* k : {"a@x.org", "b@x.org", "c@x.org"}) {
            records::TaskRcpt r;
            r.key = k;
            r.email = k;
            r.message_id = std::string("id-") + k;
            tasks.put_rcpt(txn, *id, 1, r);
        }
        records::TaskRcpt other;
        other.key = "a@x.org";
        tasks.put_rcpt(txn, *id, 2, other);  // another run
        return txn.status();
    }));
    auto txn = tr.env->begin_read();
    REQUIRE(txn);
    auto all = tasks.rcpts(*txn, *id, 1, "", "c@x.org");
    REQUIRE(all.size() == 3);
    CHECK(all[1].message_id == "id-b@x.org");
    auto tail = tasks.rcpts(*txn, *id, 1, "a@x.org", "b@x.org");
    REQUIRE(tail.size() == 1);
    CHECK(tail[0].key == "b@x.org");
    CHECK(tasks.rcpts(*txn, *id, 2, "", "z").size() == 1);
}

TEST_CASE("task message: headers only, data as folded base64", "[tasks]") {
    records::Task t;
    t.from = "news@example.com";
    t.subject = "Hello";
    t.template_name = "welcome";
    std::string data = R"({"name": ")" + std::string(300, 'x') + R"("})";
    std::string m = services::task_message(t, "ana@remote.test", data, "v1; id=X; mac=Y", kNow);
    CHECK_THAT(m, Catch::StartsWith("From: news@example.com\r\nTo: ana@remote.test\r\nSubject: Hello\r\n"));
    CHECK_THAT(m, Catch::Contains("Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"));
    CHECK_THAT(m, Catch::Contains("X-SES-Submission: v1; id=X; mac=Y\r\n"));
    CHECK_THAT(m, Catch::Contains("X-SES-Template: welcome\r\n"));
    CHECK_THAT(m, Catch::Contains("X-SES-Template-Data: base64:"));
    CHECK_THAT(m, Catch::EndsWith("\r\n\r\n"));
    size_t start = 0;
    while (start < m.size()) {
        size_t end = m.find("\r\n", start);
        REQUIRE(end != std::string::npos);
        CHECK(end - start <= 78);
        start = end + 2;
    }
    // No variables: no data header at all.
    CHECK_THAT(services::task_message(t, "a@b.c", "{}", "v", kNow), !Catch::Contains("X-SES-Template-Data"));
}
