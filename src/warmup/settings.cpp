// settings.cpp -- the [warmup] settings from the configuration (keys declared
// in src/config/schema.cpp).
#include "warmup/settings.hpp"

#include "config/config.hpp"

namespace ses::warmup {

Settings from_config(const config::Config& c) {
    Settings s;
    s.enabled = c.boolean("warmup.enabled");
    s.time_zone = c.str("warmup.time_zone");
    s.hold_duration = c.duration("warmup.hold_duration");
    s.release_scheduler = c.boolean("warmup.release_scheduler");
    s.release_interval = c.duration("warmup.release_interval");
    s.release_batch = static_cast<size_t>(c.integer("warmup.release_batch"));
    s.release_retry = c.duration("warmup.release_retry");
    s.outbound_ips = c.list("warmup.outbound_ips");

    return s;
}

}  // namespace ses::warmup
