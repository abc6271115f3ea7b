// status_cmd.hpp -- sesctl commands of delivery tracking: `status`,
// `stats` and `events` over the message records (docs/status.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> status_commands();
}
