// settings.cpp -- warm-up settings from the configuration (keys declared in
// src/config/schema.cpp).
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

    s.policy.script = c.get(config::key::policy::script);
    s.policy.instruction_limit = static_cast<uint64_t>(c.get(config::key::policy::instruction_limit));
    s.policy.memory_limit = c.get(config::key::policy::memory_limit);

    s.store.path = c.get(config::key::store::path);
    store::parse_sync(c.get(config::key::store::sync), s.store.sync);
    s.store.sync_interval = c.get(config::key::store::sync_interval);
    s.store.map_size = c.get(config::key::store::map_size);

    mta::parse_kind(c.get(config::key::mta::kind), s.mta.kind);
    s.mta.config_directory = c.get(config::key::mta::config_directory);
    s.mta.command_prefix = c.get(config::key::mta::command_prefix);
    s.mta.command_timeout = c.get(config::key::mta::command_timeout);
    return s;
}

}  // namespace ses::warmup
