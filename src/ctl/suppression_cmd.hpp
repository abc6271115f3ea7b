// suppression_cmd.hpp -- `sesctl suppression add|remove|list|import|export`
// over the suppression list (docs/suppression.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> suppression_commands();
}
