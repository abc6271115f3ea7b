// mta_cmd.hpp -- sesctl commands of the MTA area: `sesctl mta config`, the
// MTA configuration that routes the [[pool]]s (docs/pools.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> mta_commands();
}
