// identity_recheck.cpp -- see identity_recheck.hpp.
#include "milter/identity_recheck.hpp"

#include "milter/runtime.hpp"

namespace ses::milter {

void IdentityRecheck::start() {
    worker_.start([this](util::Worker& w) {
        do check_once();
        while (w.sleep_for(interval_));
    });
}

void IdentityRecheck::stop() { worker_.stop(); }

// Only `require_verified` reads the stored results: without it, no DNS.
void IdentityRecheck::check_once() {
    auto rt = milter::current();
    bool wanted = false;
    for (const auto& d : rt ? rt->cfg.domains : std::vector<config::DomainConf>{})
        wanted = wanted || d.require_verified;
    if (wanted && rt->auth) rt->auth->verify_identities();
}

}  // namespace ses::milter
