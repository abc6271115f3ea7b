// dkim_cmd.hpp -- sesctl commands of the dkim area.
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> dkim_commands();
}
