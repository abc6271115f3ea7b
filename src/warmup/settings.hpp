// settings.hpp -- everything the warm-up needs from the configuration.
//
// A plain struct with the defaults of the product; the config loader fills
// it from [warmup], [policy], [store] and [mta] (docs/warmup.md lists the
// keys).  Thread safety: a value; copy it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mta/adapter.hpp"
#include "policy/policy.hpp"
#include "store/env.hpp"

namespace ses::config {
struct Config;
}

namespace ses::warmup {

struct Settings {
    bool enabled = true;
    std::string time_zone = "UTC";          // days are calendar days here
    int64_t hold_duration = 86400;          // default release_in of a hold (24 h)
    bool release_scheduler = true;          // run the release thread in sesmilter
    int64_t release_interval = 60;          // seconds between release passes
    size_t release_batch = 200;             // messages released per transaction
    int64_t release_retry = 600;            // seconds before a failed release is tried again
    std::vector<std::string> outbound_ips;  // when set, the sending IP is an identity too

    policy::Settings policy;  // [policy] script, instruction_limit, memory_limit
    store::Options store;     // [store] path, map_size, sync
    mta::Settings mta;        // [mta] kind, config_directory, command_prefix
};

// The settings of a loaded configuration.  Implemented next to the key
// table (src/config/), which owns the mapping from TOML keys.
Settings from_config(const config::Config& cfg);

}  // namespace ses::warmup
