// reference.hpp -- the Lua hook reference (docs/lua-hooks.md), generated
// from the hook table (hooks.hpp) so that the documentation cannot drift from
// the code: `sesmilter --lua-reference` prints it, `make docs` writes it and
// `make docs-check` fails when the committed file is stale.
// Pure; thread-safe.
#pragma once

#include <string>
#include <span>

#include "policy/hooks.hpp"

namespace ses::policy {

// The reference of `hooks` and their argument tables (the module's), with
// the `ses` table.
std::string lua_reference_markdown(std::span<const HookDef> hooks, std::span<const ArgTypeDef> arguments);

}  // namespace ses::policy
