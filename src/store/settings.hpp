// settings.hpp -- the [store] settings out of the configuration.
//
// The store reads its own keys ([store] path, sync, sync_interval, map_size,
// backend, redis_*; declared in src/config/schema.cpp); the daemon and every sesctl command
// open the environment with these options.  Pure; thread-safe.
#pragma once

#include "config/config.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"

namespace ses::store {

Options options_from(const config::Config& cfg);
// [store] backend and redis_* (shared_state.hpp).
SharedOptions shared_options_from(const config::Config& cfg);

}  // namespace ses::store
