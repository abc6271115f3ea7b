// release_scheduler.hpp -- the thread in sesmilter that releases held mail.
//
// Every `interval` seconds (and at once after wake()) it runs release_pass()
// with the configured MTA adapter, and clears stale LMDB reader slots.  `sesctl queue release-due` does the same pass
// from cron; both may run at the same time (records being released are
// marked in the store, so nothing is released twice).
//
// Errors: a failing pass is logged and retried at the next interval; the
// thread never stops on its own.
// Thread safety: start/stop/wake may be called from any thread; stop() (or
// the destructor) joins the thread.  The engine must outlive the scheduler.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "mta/adapter.hpp"
#include "records/message_store.hpp"
#include "util/worker.hpp"
#include "warmup/engine.hpp"

namespace ses::services {

// One release pass: batches from the engine (begin_release), the MTA adapter
// run for each message, the outcomes recorded (finish_release), until no
// more is due or fits.  One log line per message.  Each message is
// released with Adapter::release_held(), which requeues one held for
// nearly the MTA's whole queue lifetime instead (mta/adapter.hpp).  The engine decides and
// records; only this runs MTA tools (for the scheduler and for `sesctl queue
// release-due`).  With `records`, every recipient of a released message's
// record gets a `released` event (docs/events.md), written before the
// engine records the release: a crash in between repeats it, never loses it.
Result<warmup::ReleaseReport> release_pass(warmup::Engine& engine, mta::Adapter& mta,
                                           records::MessageStore* records = nullptr);

class ReleaseScheduler {
public:
    ReleaseScheduler(warmup::Engine& engine, std::unique_ptr<mta::Adapter> mta, int64_t interval_seconds);
    ~ReleaseScheduler();
    ReleaseScheduler(const ReleaseScheduler&) = delete;
    ReleaseScheduler& operator=(const ReleaseScheduler&) = delete;

    void start();
    void stop();
    void wake();  // run a pass now
    bool running() const { return worker_.running(); }
    uint64_t passes() const { return passes_.load(); }
    // Message records for `released` events (before start()).
    void set_records(std::shared_ptr<records::MessageStore> r) { records_ = std::move(r); }

private:
    void loop(util::Worker& w);

    warmup::Engine& engine_;
    std::unique_ptr<mta::Adapter> mta_;
    std::shared_ptr<records::MessageStore> records_;
    int64_t interval_;
    std::atomic<uint64_t> passes_{0};
    util::Worker worker_;  // last: stopped before the members its body uses go
};

}  // namespace ses::services
