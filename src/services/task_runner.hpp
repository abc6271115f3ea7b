// task_runner.hpp -- the service that sends batch tasks (records/tasks.hpp)
// through the local MTA.
//
// Every `tasks.poll_interval` (and at once after wake(): a route created or
// resumed a task) it looks at each task that is pending, sending or paused
// for today and, when its time has come, works through its group in
// batches of `tasks.batch`: it asks the warm-up engine what is left of
// today's quota for the task's identity (the FromEmailAddress domain's
// configured identity, as the milter resolves it) and assigns at most that
// many recipients, skipping suppressed ones (counted); then it submits one
// message per recipient -- headers only, the template named in
// X-SES-Template and the member's variables in X-SES-Template-Data, the
// milter renders -- and writes each recipient's `sent` after the MTA's 250.
// A 5xx fails that recipient (counted); a 4xx or no answer leaves it for a
// retry after `tasks.retry`, doubled per attempt up to an hour.  With no
// quota left the task shows status 6 (paused for today) until the warm-up
// day changes, so a big task never fills the hold queue.
//
// Errors: store and MTA failures are logged and retried at the next pass; a
// task whose group is gone or whose sender is not a configured identity
// gets status 7 with the reason.  Thread safety: start/stop/wake from any
// thread; one worker thread does all the sending (one SMTP connection).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "records/groups.hpp"
#include "records/suppression.hpp"
#include "records/tasks.hpp"
#include "services/services.hpp"
#include "services/smtp_submit.hpp"
#include "util/worker.hpp"
#include "warmup/engine.hpp"

namespace ses::services {

struct TaskRunnerSettings {
    SubmitConf smtp;
    size_t batch = 50;
    int64_t poll_interval = 1;  // seconds
    int64_t retry = 30;         // seconds, first retry after a 4xx / no answer
};

// The identity a sender address sends as ("" when none is configured).
using IdentityOf = std::function<std::string(std::string_view address)>;

// The message submitted for one recipient: From, To, Subject, Date,
// MIME-Version, X-SES-Submission (value given), X-SES-Template and
// X-SES-Template-Data (base64: and folded when long, so no line exceeds 78
// characters).  Pure.
std::string task_message(const records::Task& t, std::string_view to, std::string_view data_json,
                         std::string_view submission_value, int64_t now);

class TaskRunner : public Service {
public:
    TaskRunner(std::shared_ptr<store::Env> env, std::shared_ptr<records::Groups> groups,
               std::shared_ptr<records::Tasks> tasks, std::shared_ptr<records::SuppressionList> suppression,
               std::shared_ptr<warmup::Engine> warmup, std::string submission_key, IdentityOf identity_of,
               TaskRunnerSettings s);
    ~TaskRunner() override;
    std::string_view name() const override { return "task runner"; }
    void start() override;
    void stop() override;
    void wake() { worker_.wake(); }

private:
    void loop(util::Worker& w);
    void run_task(uint64_t id);
    // What today's quota leaves for `identity`; SIZE_MAX without warm-up.
    Result<uint64_t> quota_left(const std::string& identity);
    // Takes the next batch of the task's group; false when the run ended.
    Status open_batch(uint64_t id, const std::string& identity, uint64_t n);
    Status finish_run(store::Txn& txn, records::Task& t, int64_t now);
    int32_t today(int64_t now) const;

    std::shared_ptr<store::Env> env_;
    std::shared_ptr<records::Groups> groups_;
    std::shared_ptr<records::Tasks> tasks_;
    std::shared_ptr<records::SuppressionList> suppression_;
    std::shared_ptr<warmup::Engine> warmup_;
    std::string key_;
    IdentityOf identity_of_;
    TaskRunnerSettings s_;
    std::unique_ptr<Submitter> submitter_;
    std::set<uint64_t> seen_;  // tasks whose open batch this process has looked at
    util::Worker worker_;      // last: stopped before the members its body uses go
};

}  // namespace ses::services
