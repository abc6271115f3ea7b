// task_runner.cpp -- see task_runner.hpp.
#include "services/task_runner.hpp"

#include <algorithm>
#include <ctime>

#include "crypto/encoding.hpp"
#include "records/return_path.hpp"
#include "records/submission_id.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::services {
namespace {

using records::RcptState;
using records::Task;
using records::TaskRcpt;
using records::TaskStatus;

bool runnable(TaskStatus s) {
    return s == TaskStatus::pending || s == TaskStatus::sending || s == TaskStatus::paused_today;
}

std::string rfc5322_date(int64_t now) {
    std::time_t t = static_cast<std::time_t>(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

std::string tid(uint64_t id) { return "task " + std::to_string(id); }

}  // namespace

std::string task_message(const Task& t, std::string_view to, std::string_view data_json,
                         std::string_view submission_value, int64_t now) {
    std::string m;
    m += "From: " + t.from + "\r\n";
    m += "To: " + std::string(to) + "\r\n";
    if (!t.subject.empty()) m += "Subject: " + t.subject + "\r\n";
    m += "Date: " + rfc5322_date(now) + "\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += std::string(records::kSubmissionHeader) + ": " + std::string(submission_value) + "\r\n";
    m += "X-SES-Template: " + t.template_name + "\r\n";
    if (!data_json.empty() && data_json != "{}") {
        // base64: is the milter's 8-bit-safe form; folding it keeps every
        // line short whatever the variables hold.
        std::string b = crypto::base64_encode(data_json);
        m += "X-SES-Template-Data: base64:";
        size_t first = std::min<size_t>(b.size(), 40);
        m += b.substr(0, first) + "\r\n";
        for (size_t i = first; i < b.size(); i += 76) m += " " + b.substr(i, 76) + "\r\n";
    }
    m += "\r\n";
    return m;
}

TaskRunner::TaskRunner(std::shared_ptr<store::Env> env, std::shared_ptr<records::Groups> groups,
                       std::shared_ptr<records::Tasks> tasks, std::shared_ptr<records::SuppressionList> suppression,
                       std::shared_ptr<warmup::Engine> warmup, std::string submission_key, IdentityOf identity_of,
                       TaskRunnerSettings s)
    : env_(std::move(env)),
      groups_(std::move(groups)),
      tasks_(std::move(tasks)),
      suppression_(std::move(suppression)),
      warmup_(std::move(warmup)),
      key_(std::move(submission_key)),
      identity_of_(std::move(identity_of)),
      s_(std::move(s)) {}

TaskRunner::~TaskRunner() { stop(); }

void TaskRunner::start() {
    worker_.start([this](util::Worker& w) { loop(w); });
}

void TaskRunner::stop() { worker_.stop(); }

int32_t TaskRunner::today(int64_t now) const {
    if (warmup_) return warmup_->time_zone().day_of(now);
    return static_cast<int32_t>(now / 86400);
}

void TaskRunner::loop(util::Worker& w) {
    submitter_ = std::make_unique<Submitter>(s_.smtp);
    do {
        auto all = tasks_->list();
        if (!all) {
            log::warn("tasks: " + all.error().what);
            continue;
        }
        for (const auto& t : *all) {
            if (w.stopping()) break;
            if (runnable(t.status)) run_task(t.id);
        }
    } while (w.sleep_for(std::chrono::seconds(s_.poll_interval)));
    submitter_.reset();
}

Result<uint64_t> TaskRunner::quota_left(const std::string& identity) {
    if (!warmup_) return SIZE_MAX;
    auto st = warmup_->status(warmup::IdentityKey::domain(identity));
    // An identity that never sent has no state yet: one message makes it.
    if (!st) return st.error().what.find("unknown identity") != std::string::npos ? 1 : Result<uint64_t>(st.error());
    return st->remaining;
}

Status TaskRunner::finish_run(store::Txn& txn, Task& t, int64_t now) {
    t.cursor.clear();
    t.batch_end.clear();
    bool again = t.type == 3 && !t.term_cycle && (t.max_runs == 0 || t.run < t.max_runs);
    int64_t next = t.next_run + t.interval;
    // Runs missed while the daemon was down collapse into one.
    while (again && next + t.interval <= now) next += t.interval;
    if (again && t.end != 0 && next > t.end) again = false;
    if (again) {
        ++t.run;
        t.next_run = next;
        t.status = TaskStatus::pending;
        log::info(tid(t.id) + ": run " + std::to_string(t.run - 1) + " done; next run at " +
                  clock::format_rfc3339(next));
    } else {
        t.status = TaskStatus::done;
        log::info(tid(t.id) + ": done: sent " + std::to_string(t.sent) + ", skipped " + std::to_string(t.skipped) +
                  ", failed " + std::to_string(t.failed));
    }
    tasks_->put(txn, t);
    return txn.status();
}

Status TaskRunner::open_batch(uint64_t id, const std::string& identity, uint64_t n) {
    int64_t now = clock::now();
    int64_t ms = now * 1000;
    return env_->update([&](store::Txn& txn) -> Status {
        auto t = tasks_->get(txn, id);
        if (!t || !runnable(t->status) || !t->batch_end.empty()) return ok_status();
        if (t->run == 0) t->run = 1;
        if (!groups_->get(txn, t->group)) {
            t->status = TaskStatus::error;
            t->error = "group " + std::to_string(t->group) + " no longer exists";
            tasks_->put(txn, *t);
            return txn.status();
        }
        auto members = groups_->members(txn, t->group, t->cursor, n);
        if (members.empty()) return finish_run(txn, *t, now);
        for (size_t i = 0; i < members.size(); ++i) {
            const auto& m = members[i];
            TaskRcpt r;
            r.key = m.key;
            r.email = m.email;
            ++t->requested;
            if (suppression_ && suppression_->find(txn, m.key, identity, now)) {
                r.state = RcptState::skipped;
                ++t->skipped;
            } else {
                // Ids are unique per millisecond and random part; spread them.
                r.message_id = records::new_message_id(ms + static_cast<int64_t>(i));
            }
            tasks_->put_rcpt(txn, id, t->run, r);
        }
        t->batch_end = members.back().key;
        t->status = TaskStatus::sending;
        tasks_->put(txn, *t);
        return txn.status();
    });
}

void TaskRunner::run_task(uint64_t id) {
    while (!worker_.stopping()) {
        int64_t now = clock::now();
        auto got = tasks_->get(id);
        if (!got || !*got) return;
        Task t = std::move(**got);
        if (!runnable(t.status) || now < t.next_run) return;
        std::string identity = identity_of_(t.from);
        if (identity.empty()) {
            (void)env_->update([&](store::Txn& txn) -> Status {
                auto cur = tasks_->get(txn, id);
                if (!cur || !runnable(cur->status)) return ok_status();
                cur->status = TaskStatus::error;
                cur->error = "FromEmailAddress " + t.from + " is not in a configured identity ([[domain]])";
                tasks_->put(txn, *cur);
                return txn.status();
            });
            log::warn(tid(id) + ": " + t.from + " is not in a configured identity: status error");
            return;
        }
        if (t.status == TaskStatus::paused_today && today(now) == t.paused_day) return;
        if (t.batch_end.empty()) {
            auto left = quota_left(identity);
            if (!left) {
                log::warn(tid(id) + ": warm-up quota: " + left.error().what);
                return;
            }
            if (*left == 0) {
                if (t.status != TaskStatus::paused_today || t.paused_day != today(now)) {
                    (void)env_->update([&](store::Txn& txn) -> Status {
                        auto cur = tasks_->get(txn, id);
                        if (!cur || !runnable(cur->status)) return ok_status();
                        cur->status = TaskStatus::paused_today;
                        cur->paused_day = today(now);
                        tasks_->put(txn, *cur);
                        return txn.status();
                    });
                    log::info(tid(id) + ": today's warm-up quota of " + identity + " is used: paused for today");
                }
                return;
            }
            if (Status st = open_batch(id, identity, std::min<uint64_t>(*left, s_.batch)); !st) {
                log::warn(tid(id) + ": " + st.error().what);
                return;
            }
            seen_.insert(id);  // this process's own batch: nothing to take up
            continue;
        }
        // The open batch: submit what is assigned and due.
        std::vector<TaskRcpt> batch;
        if (Status st = env_->view([&](store::Txn& txn) -> Status {
                batch = tasks_->rcpts(txn, id, t.run, t.cursor, t.batch_end);
                return txn.status();
            });
            !st) {
            log::warn(tid(id) + ": " + st.error().what);
            return;
        }
        if (seen_.insert(id).second) {
            // A batch this process did not open: taken up after a restart.
            // Its assigned recipients may have reached the MTA before the
            // crash; they are submitted again with their own message id.
            uint64_t again = std::count_if(batch.begin(), batch.end(), [](const TaskRcpt& r) {
                return r.state == RcptState::assigned && r.attempts == 0;
            });
            if (again) {
                log::info(tid(id) + ": taking up an open batch; " + std::to_string(again) +
                          " recipient(s) may be submitted a second time");
                (void)env_->update([&](store::Txn& txn) -> Status {
                    auto cur = tasks_->get(txn, id);
                    if (!cur) return ok_status();
                    cur->resubmitted += again;
                    tasks_->put(txn, *cur);
                    return txn.status();
                });
            }
        }
        bool waiting = false;
        for (auto& r : batch) {
            if (r.state != RcptState::assigned) continue;
            now = clock::now();
            if (r.next_try > now) {
                waiting = true;
                continue;
            }
            if (worker_.stopping()) return;
            // Pause and cancel take effect between two messages.
            auto cur = tasks_->get(id);
            if (!cur || !*cur || !runnable((*cur)->status)) return;
            std::vector<std::string> rcpts{r.email};
            // The member's variables as they are now (a re-import may have
            // changed them since the batch was opened).
            std::string msg;
            if (Status st = env_->view([&](store::Txn& txn) -> Status {
                    auto one = groups_->member(txn, t.group, r.key);
                    msg = task_message(t, r.email, one ? one->data : std::string("{}"),
                                       records::make_submission(key_, r.message_id, rcpts), now);
                    return txn.status();
                });
                !st) {
                log::warn(tid(id) + ": " + st.error().what);
                return;
            }
            auto reply = submitter_->submit(t.from, rcpts, msg);
            int code = reply ? reply->code : 0;
            std::string text = reply ? std::to_string(reply->code) + " " + reply->text : reply.error().what;
            Status st = env_->update([&](store::Txn& txn) -> Status {
                auto cur = tasks_->get(txn, id);
                if (!cur) return ok_status();
                TaskRcpt u = r;
                u.reply = text;
                if (code >= 200 && code < 300) {
                    u.state = RcptState::sent;
                    ++cur->sent;
                } else if (code >= 500) {
                    u.state = RcptState::failed;
                    ++cur->failed;
                } else {
                    ++u.attempts;
                    int64_t wait = s_.retry << std::min<uint32_t>(u.attempts - 1, 12);
                    u.next_try = now + std::min<int64_t>(wait, 3600);
                }
                tasks_->put_rcpt(txn, id, t.run, u);
                tasks_->put(txn, *cur);
                r = u;
                return txn.status();
            });
            if (!st) {
                log::warn(tid(id) + ": recording " + r.email + ": " + st.error().what);
                return;
            }
            if (code >= 500)
                log::info(tid(id) + ": " + r.email + " refused: " + text);
            else if (code < 200 || code >= 300) {
                log::info(tid(id) + ": " + r.email + " deferred: " + text);
                waiting = true;
            }
        }
        if (waiting) return;
        // Every recipient of the batch is settled: move the cursor past it.
        Status st = env_->update([&](store::Txn& txn) -> Status {
            auto cur = tasks_->get(txn, id);
            if (!cur || cur->batch_end != t.batch_end) return ok_status();
            cur->cursor = cur->batch_end;
            cur->batch_end.clear();
            tasks_->put(txn, *cur);
            return txn.status();
        });
        if (!st) {
            log::warn(tid(id) + ": " + st.error().what);
            return;
        }
    }
}

}  // namespace ses::services
