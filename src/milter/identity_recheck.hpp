// identity_recheck.hpp -- re-checks the DNS records of the sending
// identities at start and every hour, when any domain has
// `require_verified` (the only reader of the stored results).
//
// It reads the current milter::Runtime at each pass, so a reload that adds
// or removes identities is picked up at the next pass.
//
// Errors: a failing check is stored as that identity's result by
// auth::AuthRuntime::verify_identities(); the thread never stops on its own.
// Thread safety: start/stop from one thread; stop() joins.
#pragma once

#include <chrono>
#include <condition_variable>

#include "services/services.hpp"
#include "util/worker.hpp"

namespace ses::milter {

class IdentityRecheck : public services::Service {
public:
    explicit IdentityRecheck(std::chrono::seconds interval = std::chrono::hours(1)) : interval_(interval) {}
    ~IdentityRecheck() override { stop(); }
    std::string_view name() const override { return "identity re-check"; }
    void start() override;
    void stop() override;

private:
    void check_once();
    std::chrono::seconds interval_;
    util::Worker worker_;
};

}  // namespace ses::milter
