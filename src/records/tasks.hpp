// tasks.hpp -- batch tasks (the product's BatchSendEmail): a template sent
// to every member of a recipient group now (TaskType 1), at a time (2) or
// every IntervalTime hours (3), and each recipient's send state.
//
// The store is what makes a task survive restarts.  The runner
// (services/task_runner.hpp) works in batches in group order: it first
// writes the batch's recipients with a message id each (state `assigned`,
// the X-SES-Submission header makes the milter keep that id), then submits
// them one by one and writes `sent` after each 250; when the whole batch is
// settled the cursor moves past it.  After a crash the open batch is taken
// up again: `sent` recipients are not submitted again, `assigned` ones are,
// with the same message id.  So a message can go out twice only when the
// MTA had taken it and the crash came before its `sent` was written: at most
// the one in flight per task (documented in docs/tasks.md), counted as
// Resubmitted.
//
// Status codes are the product's (1 pending, 5 sending, 6 paused for today,
// 7 error, 10 done) plus sesmilter's 8 paused (by the operator) and 9
// cancelled.
//
// Errors: store failures come back as Error; a bad request is an Error with
// the field named.  Thread safety: no state besides the shared Env; the
// runner is the only writer of counts, the routes and sesctl only change
// the status (pause/resume/cancel) in their own transactions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::records {

enum class TaskStatus : uint8_t {
    pending = 1,
    sending = 5,
    paused_today = 6,
    error = 7,
    paused = 8,
    cancelled = 9,
    done = 10,
};
std::string_view task_status_name(TaskStatus s);  // "pending", "sending", "paused for today", ...

struct Task {
    uint64_t id = 0;
    int type = 1;  // 1 immediate, 2 scheduled, 3 recurring
    std::string from;
    std::string subject;
    std::string template_name;
    uint64_t group = 0;
    int64_t begin = 0;        // first run (types 2, 3)
    int64_t interval = 0;     // seconds between runs (type 3)
    bool term_cycle = false;  // type 3: stop after the current run
    int64_t end = 0;          // type 3: no run starts after this (0: none)
    uint32_t max_runs = 0;    // type 3: at most this many runs (0: no limit)
    int64_t created = 0;
    TaskStatus status = TaskStatus::pending;
    std::string error;       // with status error
    uint32_t run = 0;        // runs started (the current one's number)
    int64_t next_run = 0;    // when the next run starts
    int32_t paused_day = 0;  // with paused_today: the day the quota ran out
    std::string cursor;      // last member settled in this run ("" = none)
    std::string batch_end;   // last member of the open batch ("" = none open)
    // Counts over all runs.
    uint64_t requested = 0, sent = 0, skipped = 0, failed = 0, resubmitted = 0;
    uint64_t cached() const { return requested - std::min(requested, sent + skipped + failed); }
};

enum class RcptState : uint8_t { assigned = 0, sent = 1, skipped = 2, failed = 3 };

struct TaskRcpt {
    std::string key;  // lower-case address
    RcptState state = RcptState::assigned;
    std::string email;       // as in the group
    std::string message_id;  // assigned before the first submission
    uint32_t attempts = 0;
    int64_t next_try = 0;
    std::string reply;  // the MTA's last answer
};

// The product's request as JSON text: TaskType, FromEmailAddress, GroupId
// (or ReceiverId), Subject, Template {TemplateName}, TimedParam {BeginTime},
// CycleParam {BeginTime, IntervalTime, TermCycle, EndTime, MaxRuns},
// TimeZone ("UTC", "+08:00").  Times "YYYY-MM-DD HH:MM:SS".  Checks
// everything but the existence of the group and template (the caller's).
Result<Task> parse_task_request(std::string_view json_text, int64_t now);
// "YYYY-MM-DD HH:MM:SS" in `tz` ("" / "UTC" / "Z" / "+HH:MM" / "-HH:MM").
std::optional<int64_t> parse_task_time(std::string_view s, std::string_view tz);
std::string format_task_time(int64_t t);  // UTC, the same form

class Tasks {
public:
    explicit Tasks(std::shared_ptr<store::Env> env);

    Result<uint64_t> create(Task t);  // assigns the id
    Result<std::vector<Task>> list() const;
    Result<std::optional<Task>> get(uint64_t id) const;
    std::optional<Task> get(store::Txn& txn, uint64_t id) const;
    void put(store::Txn& txn, const Task& t) const;
    // pause: pending/sending/paused for today -> paused; resume: paused ->
    // pending (the runner takes it up); cancel: anything not done ->
    // cancelled.  Returns the task as changed; an impossible change is an
    // Error naming the status.
    Result<Task> control(uint64_t id, std::string_view action);

    std::optional<TaskRcpt> rcpt(store::Txn& txn, uint64_t id, uint32_t run, std::string_view key) const;
    void put_rcpt(store::Txn& txn, uint64_t id, uint32_t run, const TaskRcpt& r) const;
    // Recipients of a run with keys in (after, upto].
    std::vector<TaskRcpt> rcpts(store::Txn& txn, uint64_t id, uint32_t run, std::string_view after,
                                std::string_view upto) const;

private:
    std::shared_ptr<store::Env> env_;
    store::Table tasks_, rcpts_, meta_;
};

}  // namespace ses::records
