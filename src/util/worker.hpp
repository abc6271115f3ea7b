// worker.hpp -- one background thread that sleeps between rounds of work
// and stops promptly.
//
// The daemon's services (release scheduler, records follower, identity
// re-check, reloader) each run a loop "do the work, sleep, repeat until
// stopped", and some can be woken early (SIGHUP).  Worker is that loop's
// thread, its stop flag and its wake-up, written once: the body calls
// sleep_for() or wait() between rounds and returns when they say the
// worker is stopping.
//
// Errors: none; the body's own failures are its business (it logs them).
// Thread safety: start() and stop() from one controlling thread; wake() and
// stopping() from any thread; sleep_for() and wait() only from the body.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ses::util {

class Worker {
public:
    Worker() = default;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() { stop(); }

    // Runs `body` in a new thread; nothing when one is running already.
    void start(std::function<void(Worker&)> body) {
        if (thread_.joinable()) return;
        {
            std::lock_guard lk(mu_);
            stop_ = false;  // a wake() before start() is kept: the body sees it
        }
        thread_ = std::thread([this, body = std::move(body)] { body(*this); });
    }

    // Asks the body to return (its sleep ends at once) and joins the thread.
    void stop() {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        // From the body itself (it decided to stop): it returns on its own.
        if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    }

    // Ends the body's current (or next) sleep early.
    void wake() {
        {
            std::lock_guard lk(mu_);
            woken_ = true;
        }
        cv_.notify_all();
    }

    bool stopping() const {
        std::lock_guard lk(mu_);
        return stop_;
    }
    bool running() const { return thread_.joinable(); }

    // Sleeps up to `d`, less when woken; false when the worker is stopping.
    template <class Rep, class Period>
    bool sleep_for(std::chrono::duration<Rep, Period> d) {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, d, [this] { return stop_ || woken_; });
        woken_ = false;
        return !stop_;
    }

    // Sleeps until woken; false when the worker is stopping.
    bool wait() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [this] { return stop_ || woken_; });
        woken_ = false;
        return !stop_;
    }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool woken_ = false;
    std::thread thread_;
};

}  // namespace ses::util
