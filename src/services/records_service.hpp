// records_service.hpp -- the background thread of delivery tracking: it
// follows the MTA's log into the message records and purges old records.
//
// Every `poll_interval` it runs DeliveryTracker::poll_once() until the log
// has nothing new (each call is one write transaction of at most a batch
// of lines, so the milter's own short transactions never wait long), and
// every `purge_interval` it deletes records older than `keep_days` in
// batches of kPurgeBatch, one transaction each.
//
// Feedback: `on_event` is called inside the follower's transaction for
// every status change it writes; Services sets it to event_feedback()
// (warm-up reputation and the suppression list).
//
// Errors: a failing poll or purge is logged at warning and retried at the
// next interval; the thread never stops on its own.
// Thread safety: start/stop from the main thread; stop() joins the thread
// and may be called more than once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "records/delivery.hpp"
#include "records/tracking.hpp"
#include "util/worker.hpp"
#include "records/message_store.hpp"
#include "records/tracking.hpp"
#include "services/services.hpp"
#include "store/env.hpp"

namespace ses::services {

struct RecordsServiceSettings {
    std::string log_file;  // empty: no follower, purge only
    int64_t poll_interval = 1;
    int64_t purge_interval = 600;
    int64_t keep_days = 30;
};

class RecordsService : public Service {
public:
    static constexpr size_t kPurgeBatch = 200;

    RecordsService(std::shared_ptr<store::Env> env, std::shared_ptr<records::MessageStore> records,
                   RecordsServiceSettings s);
    ~RecordsService() override;

    std::string_view name() const override { return "records (log follower, purge)"; }
    void start() override;
    void stop() override;

    // Tracked links expire after [tracking] link_days, not with the records
    // (old mail keeps working links); purged by the same loop.  May be null.
    std::shared_ptr<records::Tracking> tracking;

    // Feedback hook (see the header comment).
    std::function<void(store::Txn&, const records::MessageRecord&, const records::Event&)> on_event;

    // One pass of each job, for tests and the loop: returns lines read /
    // records purged.
    Result<size_t> follow_once();
    Result<size_t> purge_once(int64_t now);

private:
    void loop(util::Worker& w);

    std::shared_ptr<store::Env> env_;
    std::shared_ptr<records::MessageStore> records_;
    RecordsServiceSettings s_;
    std::unique_ptr<records::DeliveryTracker> tracker_;
    util::Worker worker_;
};

}  // namespace ses::services
