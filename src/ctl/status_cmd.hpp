// status_cmd.hpp -- sesctl commands of delivery tracking: `status` and
// `stats` over the message records (docs/status.md); `events` is in
// events_cmd.hpp.
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> status_commands();
}
