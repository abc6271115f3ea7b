// man_page.hpp -- sesctl(8), printed by `sesctl --man` from the same
// command table that `sesctl --help` prints, so the page cannot drift from
// the commands (`make docs-check` diffs man/sesctl.8).
//
// Pure; no errors; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {

std::string man_page(const std::vector<Command>& commands, const std::string& default_config);

}  // namespace ses::ctl
