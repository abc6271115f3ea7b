// warmup_cmd.hpp -- sesctl commands of the warmup area, and the handle that
// the warmup and queue commands open.
#pragma once

#include <memory>
#include <vector>

#include "ctl/command.hpp"
#include "warmup/engine.hpp"

namespace ses::ctl {

std::vector<Command> warmup_commands();

// The store, the policy and the engine of the configuration in `c`.
struct WarmupHandle {
    warmup::Settings settings;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<policy::Policy> policy;
    std::unique_ptr<warmup::Engine> engine;
};
Result<WarmupHandle> open_warmup(const Context& c);

}  // namespace ses::ctl
