// template_cmd.hpp -- sesctl commands of the template area.
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> template_commands();
}
