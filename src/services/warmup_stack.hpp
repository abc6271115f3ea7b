// warmup_stack.hpp -- the one place that builds store -> policy -> warm-up
// engine from a configuration.
//
// sesmilter (services.cpp) and every sesctl warm-up and queue command
// (ctl/warmup_cmd.cpp) call open_warmup_stack(), so both build the same
// handles from the same settings: the store with [store] options, the policy
// from [policy], the engine with [warmup], and the [mta] settings for whoever
// runs the release pass.  Each module reads its own section.
//
// Errors: a store that cannot be opened, a policy script that does not load
// (the message names the key), an unknown time zone.
// Thread safety: call from one thread; the handles are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "mta/adapter.hpp"
#include "policy/policy.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "util/result.hpp"
#include "warmup/engine.hpp"

namespace ses::services {

struct WarmupStack {
    warmup::Settings settings;  // [warmup]
    policy::Settings policy_settings;
    mta::Settings mta_settings;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<store::SharedState> shared;  // the fleet's; null with [store] backend = "lmdb"
    std::shared_ptr<policy::Policy> policy;
    std::shared_ptr<warmup::Engine> engine;
};

// Opens the store when `env` is null (the daemon passes the one it opened),
// and the fleet's shared state ([store] backend) when `shared` is null.
Result<WarmupStack> open_warmup_stack(const config::Config& cfg, std::shared_ptr<store::Env> env = nullptr,
                                      std::shared_ptr<store::SharedState> shared = nullptr);

// For --check-config: loads [policy] script with the warm-up's hooks (nothing
// else is opened); fails when it does not load, else returns warnings such
// as a global function named like a hook but not registered with ses.on.
Result<std::vector<std::string>> check_warmup_script(const config::Config& cfg);

}  // namespace ses::services
