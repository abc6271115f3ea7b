// identity_recheck.cpp -- see identity_recheck.hpp.
#include "milter/identity_recheck.hpp"

#include "milter/runtime.hpp"

namespace ses::milter {

void IdentityRecheck::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
}

void IdentityRecheck::stop() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void IdentityRecheck::loop() {
    std::unique_lock lk(mu_);
    while (!stop_) {
        auto rt = milter::current();
        bool wanted = false;
        for (const auto& d : rt ? rt->cfg.domains : std::vector<config::DomainConf>{})
            wanted = wanted || d.require_verified;
        if (wanted && rt->auth) {
            lk.unlock();
            rt->auth->verify_identities();
            lk.lock();
        }
        cv_.wait_for(lk, interval_, [this] { return stop_; });
    }
}

}  // namespace ses::milter
