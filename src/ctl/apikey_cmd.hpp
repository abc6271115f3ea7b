// apikey_cmd.hpp -- `sesctl apikey create|list|revoke`: the keys of the HTTP
// endpoint's operator routes (docs/http.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> apikey_commands();
}
