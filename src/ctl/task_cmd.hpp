// task_cmd.hpp -- `sesctl task create|list|show|pause|resume|cancel`: batch
// tasks (docs/tasks.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> task_commands();
}
