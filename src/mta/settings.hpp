// settings.hpp -- the [mta] settings out of the configuration.
//
// The MTA adapter reads its own keys ([mta] kind, config_directory (empty:
// the MTA's own, /etc/postfix or /etc/mail),
// command_prefix, command_timeout, declared in src/config/schema.cpp).
// Pure; thread-safe.
#pragma once

#include "config/config.hpp"
#include "mta/adapter.hpp"

namespace ses::mta {

Settings settings_from(const config::Config& cfg);

}  // namespace ses::mta
