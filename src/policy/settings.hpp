// settings.hpp -- the [policy] settings out of the configuration.
//
// The Lua runtime reads its own keys ([policy] script, instruction_limit,
// memory_limit, time_limit_ms, declared in src/config/schema.cpp).
// Pure; thread-safe.
#pragma once

#include "config/config.hpp"
#include "policy/policy.hpp"

namespace ses::policy {

Settings settings_from(const config::Config& cfg);

}  // namespace ses::policy
