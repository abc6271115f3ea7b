// auth_cmd.hpp -- sesctl commands of the auth area (auth spf, auth verify).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> auth_commands();
}
