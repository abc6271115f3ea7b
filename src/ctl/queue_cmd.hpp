// queue_cmd.hpp -- sesctl commands of the queue area (held mail).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> queue_commands();
}
