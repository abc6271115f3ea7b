// group_cmd.hpp -- `sesctl group create|list|show|delete|import|export|add|
// remove`: the recipient groups of batch tasks (docs/tasks.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> group_commands();
}
