// settings.cpp -- warm-up settings from the configuration (keys declared in
// src/config/schema.cpp).
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

    s.policy.script = c.str("policy.script");
    s.policy.instruction_limit = static_cast<uint64_t>(c.integer("policy.instruction_limit"));
    s.policy.memory_limit = c.size("policy.memory_limit");
    s.policy.time_limit_ms = c.integer("policy.time_limit_ms");

    s.store.path = c.str("store.path");
    store::parse_sync(c.str("store.sync"), s.store.sync);
    s.store.sync_interval = c.duration("store.sync_interval");
    s.store.map_size = c.size("store.map_size");

    mta::parse_kind(c.str("mta.kind"), s.mta.kind);
    s.mta.config_directory = c.str("mta.config_directory");
    s.mta.command_prefix = c.list("mta.command_prefix");
    s.mta.command_timeout = c.duration("mta.command_timeout");
    return s;
}

}  // namespace ses::warmup
