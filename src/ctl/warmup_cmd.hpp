// warmup_cmd.hpp -- sesctl commands of the warmup area, and the handle that
// the warmup and queue commands open.
#pragma once

#include <memory>
#include <vector>

#include "ctl/command.hpp"
#include "services/warmup_stack.hpp"

namespace ses::ctl {

std::vector<Command> warmup_commands();

// The store, the policy and the engine of the configuration in `c`, built
// by the same function as the daemon's (services/warmup_stack.hpp).
Result<services::WarmupStack> open_warmup(const Context& c);

}  // namespace ses::ctl
