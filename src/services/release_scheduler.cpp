// release_scheduler.cpp -- see release_scheduler.hpp.
#include "services/release_scheduler.hpp"

#include <algorithm>
#include <chrono>

#include "services/metrics.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::services {

Result<warmup::ReleaseReport> release_pass(warmup::Engine& engine, mta::Adapter& mta, records::MessageStore* records) {
    warmup::ReleaseReport report;
    for (int round = 0; round < 1000; ++round) {
        auto batch = engine.begin_release();
        if (!batch) return batch.error();
        report.deferred += batch->deferred;
        if (batch->items.empty()) break;
        // The MTA, outside any transaction.
        std::vector<warmup::ReleaseOutcome> outcomes;
        std::vector<std::string> released;
        for (const warmup::ReleaseItem& it : batch->items) {
            auto r = mta.release_held(it.mail.queue_id, it.mail.held_at, clock::now());
            std::string ids;
            for (const auto& id : it.mail.identities) ids += (ids.empty() ? "" : ",") + id.str();
            if (!r) {
                outcomes.push_back(warmup::ReleaseOutcome::failed);
                report.failed++;
                log::warn(it.mail.queue_id + ": warm-up: release failed (retry in " +
                          std::to_string(engine.settings().release_retry) + "s): " + r.error().what);
            } else if (*r == mta::Released::not_held) {
                outcomes.push_back(warmup::ReleaseOutcome::not_held);
                report.not_held++;
                log::notice(it.mail.queue_id + ": warm-up: not in the MTA's hold queue any more; record dropped");
            } else if (*r == mta::Released::requeued) {
                // Past the queue lifetime (minus the margin): a new queue id
                // and a fresh arrival time; the follower moves the record.
                outcomes.push_back(warmup::ReleaseOutcome::released);
                report.released++;
                report.requeued++;
                report.queue_ids.push_back(it.mail.queue_id);
                log::info(it.mail.queue_id + ": warm-up: requeued " + std::to_string(it.mail.recipients) +
                          " recipient(s) of " + ids + " (held since " + clock::format_rfc3339(it.mail.held_at) +
                          ", near the MTA's queue lifetime: new queue id), charged to " +
                          warmup::date_string(it.mail.charged_day));
            } else {
                outcomes.push_back(warmup::ReleaseOutcome::released);
                report.released++;
                report.queue_ids.push_back(it.mail.queue_id);
                released.push_back(it.mail.queue_id);
                log::info(it.mail.queue_id + ": warm-up: released " + std::to_string(it.mail.recipients) +
                          " recipient(s) of " + ids + ", charged to " + warmup::date_string(it.mail.charged_day));
            }
        }
        if (records && !released.empty()) {
            int64_t now = clock::now();
            Status st = engine.env().update([&](store::Txn& txn) -> Status {
                for (const auto& qid : released)
                    if (auto id = records->by_queue_id(txn, qid, now))
                        if (auto n = records->note(txn, *id, {}, records::EventType::released, now); !n)
                            return n.error();
                return ok_status();
            });
            if (!st) log::warn("warm-up: released events not recorded: " + st.error().what);
        }
        if (Status st = engine.finish_release(*batch, outcomes); !st) return st.error();
        if (!batch->full) break;
    }
    if (report.released) metrics::global().inc(metrics::kReleases, {}, double(report.released));
    return report;
}

ReleaseScheduler::ReleaseScheduler(warmup::Engine& engine, std::unique_ptr<mta::Adapter> mta, int64_t interval)
    : engine_(engine), mta_(std::move(mta)), interval_(std::max<int64_t>(1, interval)) {}

ReleaseScheduler::~ReleaseScheduler() { stop(); }

void ReleaseScheduler::start() {
    worker_.start([this](util::Worker& w) { loop(w); });
}

void ReleaseScheduler::stop() { worker_.stop(); }

void ReleaseScheduler::wake() { worker_.wake(); }

void ReleaseScheduler::loop(util::Worker& w) {
    log::info("release scheduler: every " + std::to_string(interval_) + "s via " + std::string(mta_->name()));
    do {
        try {
            auto r = release_pass(engine_, *mta_, records_.get());
            if (!r)
                log::warn("release scheduler: " + r.error().what);
            else if (r->released || r->deferred || r->failed || r->not_held)
                log::info("release scheduler: released " + std::to_string(r->released) + ", deferred " +
                          std::to_string(r->deferred) + ", failed " + std::to_string(r->failed) + ", gone " +
                          std::to_string(r->not_held));
            if (int dead = engine_.env().reader_check(); dead > 0)
                log::notice("release scheduler: cleared " + std::to_string(dead) + " stale LMDB reader slot(s)");
        } catch (const std::exception& e) {
            log::error(std::string("release scheduler: ") + e.what());
        }
        passes_++;
    } while (w.sleep_for(std::chrono::seconds(interval_)));
}

}  // namespace ses::services
