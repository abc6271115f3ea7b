// identity_cmd.hpp -- sesctl commands of the identity area (identity verify, identity status).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> identity_commands();
}
