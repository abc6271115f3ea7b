// records_service.cpp -- see records_service.hpp.
#include "services/records_service.hpp"

#include <chrono>

#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::services {

RecordsService::RecordsService(std::shared_ptr<store::Env> env, std::shared_ptr<records::MessageStore> records,
                               RecordsServiceSettings s)
    : env_(std::move(env)), records_(std::move(records)), s_(std::move(s)) {
    if (!s_.log_file.empty()) {
        tracker_ = std::make_unique<records::DeliveryTracker>(env_, records_, s_.log_file);
        tracker_->on_warning = [](const std::string& w) { log::warn(w); };
        tracker_->on_event = [this](store::Txn& txn, const records::MessageRecord& rec, const records::Event& e) {
            if (on_event) on_event(txn, rec, e);
        };
    }
}

RecordsService::~RecordsService() { stop(); }

void RecordsService::start() {
    worker_.start([this](util::Worker& w) { loop(w); });
}

void RecordsService::stop() { worker_.stop(); }

Result<size_t> RecordsService::follow_once() {
    if (!tracker_) return size_t{0};
    size_t total = 0;
    // Until the log has nothing new, one batch (one transaction) at a time.
    // A call that only moves to a new file (first open, rotation) reads
    // nothing, so the log is done after two empty calls in a row.
    for (int empty = 0; empty < 2;) {
        auto n = tracker_->poll_once();
        if (!n) return n.error();
        total += *n;
        empty = *n == 0 ? empty + 1 : 0;
        if (worker_.stopping()) break;
    }
    return total;
}

Result<size_t> RecordsService::purge_once(int64_t now) {
    int64_t before = now - s_.keep_days * 86400;
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        Status st = env_->update([&](store::Txn& txn) -> Status {
            auto r = records_->purge(txn, before, kPurgeBatch);
            if (!r) return r.error();
            n = *r;
            return ok_status();
        });
        if (!st) return st.error();
        total += n;
        if (n < kPurgeBatch || worker_.stopping()) break;
    }
    while (tracking && !worker_.stopping()) {
        size_t n = 0;
        Status st = env_->update([&](store::Txn& txn) -> Status {
            auto r = tracking->purge_links(txn, now, kPurgeBatch);
            if (!r) return r.error();
            n = *r;
            return ok_status();
        });
        if (!st) return Error{"tracked links: " + st.error().what, {}};
        if (n < kPurgeBatch) break;
    }
    return total;
}

void RecordsService::loop(util::Worker& w) {
    using namespace std::chrono;
    auto next_purge = steady_clock::now();  // a purge at start catches up after downtime
    for (;;) {
        if (auto n = follow_once(); !n) log::warn("delivery status: " + s_.log_file + ": " + n.error().what);
        if (steady_clock::now() >= next_purge) {
            if (auto n = purge_once(clock::now()); !n)
                log::warn("records purge: " + n.error().what);
            else if (*n)
                log::info("records purge: " + std::to_string(*n) + " records older than " +
                          std::to_string(s_.keep_days) + " days deleted");
            next_purge = steady_clock::now() + seconds(s_.purge_interval);
        }
        if (!w.sleep_for(seconds(s_.poll_interval))) return;
    }
}

}  // namespace ses::services
