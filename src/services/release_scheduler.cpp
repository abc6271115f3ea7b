// release_scheduler.cpp -- see release_scheduler.hpp.
#include "services/release_scheduler.hpp"

#include <algorithm>
#include <chrono>

#include "util/log.hpp"

namespace ses::services {

ReleaseScheduler::ReleaseScheduler(warmup::Engine& engine, std::unique_ptr<mta::Adapter> mta, int64_t interval)
    : engine_(engine), mta_(std::move(mta)), interval_(std::max<int64_t>(1, interval)) {}

ReleaseScheduler::~ReleaseScheduler() { stop(); }

void ReleaseScheduler::start() {
    std::lock_guard<std::mutex> g(mu_);
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
}

void ReleaseScheduler::stop() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void ReleaseScheduler::wake() {
    {
        std::lock_guard<std::mutex> g(mu_);
        woken_ = true;
    }
    cv_.notify_all();
}

void ReleaseScheduler::loop() {
    log::info("release scheduler: every " + std::to_string(interval_) + "s via " + std::string(mta_->name()));
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
        lk.unlock();
        try {
            auto r = engine_.release_due(*mta_);
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
        lk.lock();
        cv_.wait_for(lk, std::chrono::seconds(interval_), [&] { return stop_ || woken_; });
        woken_ = false;
    }
}

}  // namespace ses::services
