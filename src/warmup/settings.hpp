// settings.hpp -- the [warmup] settings.
//
// A plain struct with the defaults of the product, filled from [warmup] by
// from_config() (docs/configuration.md lists the keys).  The store, the
// policy and the MTA adapter read their own sections (store/settings.hpp,
// policy/settings.hpp, mta/settings.hpp).  Thread safety: a value; copy it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ses::config {
struct Config;
}

namespace ses::warmup {

struct Settings {
    bool enabled = true;
    std::string time_zone = "UTC";               // days are calendar days here
    int64_t hold_duration = 86400;               // default release_in of a hold (24 h)
    bool release_scheduler = true;               // run the release thread in sesmilter
    int64_t release_interval = 60;               // seconds between release passes
    size_t release_batch = 200;                  // messages released per transaction
    int64_t release_retry = 600;                 // seconds before a failed release is tried again
    std::vector<std::string> outbound_ips;       // when set, the sending IP is an identity too
    std::map<std::string, std::string> pool_of;  // [[pool]] address -> pool name (identity.pool in Lua)
};

// The [warmup] settings of a loaded configuration.
Settings from_config(const config::Config& cfg);

}  // namespace ses::warmup
