// settings.cpp -- the [warmup] settings from the configuration (keys declared
// in src/config/schema.cpp).
#include "warmup/settings.hpp"

#include "config/config.hpp"

namespace ses::warmup {

Settings from_config(const config::Config& c) {
    Settings s;
    s.enabled = c.get(config::key::warmup::enabled);
    s.time_zone = c.get(config::key::warmup::time_zone);
    s.hold_duration = c.get(config::key::warmup::hold_duration);
    s.release_scheduler = c.get(config::key::warmup::release_scheduler);
    s.release_interval = c.get(config::key::warmup::release_interval);
    s.release_batch = static_cast<size_t>(c.get(config::key::warmup::release_batch));
    s.release_retry = c.get(config::key::warmup::release_retry);
    s.outbound_ips = c.get(config::key::warmup::outbound_ips);
    for (const auto& p : c.pools)
        for (const auto& a : p.addresses) s.pool_of[a] = p.name;

    return s;
}

}  // namespace ses::warmup
