// services.hpp -- the long-lived parts of the daemon.
//
// The LMDB environment (opened once per process, after daemonizing), the Lua
// policy, the warm-up engine and the release scheduler live as long as the
// process; a configuration reload swaps the Runtime snapshot around them and
// re-reads the policy script.  Changing [store], [mta] or [warmup] settings
// other than the script needs a restart (logged at reload).
#pragma once

#include <memory>

#include "config/config.hpp"
#include "mta/adapter.hpp"
#include "policy/policy.hpp"
#include "services/release_scheduler.hpp"
#include "store/env.hpp"
#include "template/lmdb_store.hpp"
#include "util/result.hpp"
#include "warmup/engine.hpp"
#include "warmup/settings.hpp"

namespace ses::services {

struct Services {
    warmup::Settings warmup_settings;
    store::Options store_options;  // as started: changes need a restart
    policy::Settings policy_settings;
    mta::Settings mta_settings;
    std::shared_ptr<store::Env> store;
    std::shared_ptr<policy::Policy> policy;
    std::shared_ptr<warmup::Engine> warmup;  // null when warm-up is off
    std::unique_ptr<ReleaseScheduler> scheduler;
    std::shared_ptr<tmpl::LmdbTemplateStore> templates;

    // Opens the store, the template store and, when warm-up is on, the policy
    // and the engine.
    static Result<std::shared_ptr<Services>> open(const config::Config& cfg);
    void start();                            // background threads
    void reload(const config::Config& cfg);  // policy script; logs what needs a restart
    void stop();
    ~Services();
};

}  // namespace ses::services
