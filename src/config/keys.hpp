// keys.hpp -- every scalar configuration key as a typed C++ constant.
//
// A module reads its settings as `cfg.get(config::key::warmup::time_zone)`;
// the constant carries the key's path and its type, so a misspelt key does
// not compile and the value comes back as the key's C++ type.  The list
// below is the only place the constants are written; a unit test checks it
// against the key table in schema.cpp in both directions (every constant is
// declared there with the same type, every scalar key outside `[[...]]`
// tables has a constant).  Keys of array-of-tables entries (`domain[]...`)
// are read by the loader into DomainConf (and `webhook[]...` into
// WebhookConf) instead.
//
// No errors at run time; constants only, safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"

namespace ses::config {

// The C++ type a key of each table type is read as.  Durations are seconds.
template <Type T>
struct ValueOf;
template <>
struct ValueOf<Type::string> {
    using type = std::string;
};
template <>
struct ValueOf<Type::choice> {
    using type = std::string;
};
template <>
struct ValueOf<Type::integer> {
    using type = int64_t;
};
template <>
struct ValueOf<Type::boolean> {
    using type = bool;
};
template <>
struct ValueOf<Type::size> {
    using type = uint64_t;  // bytes
};
template <>
struct ValueOf<Type::duration> {
    using type = int64_t;  // seconds
};
template <>
struct ValueOf<Type::string_list> {
    using type = std::vector<std::string>;
};

template <Type T>
struct Key {
    using value_type = typename ValueOf<T>::type;
    static constexpr Type type = T;
    std::string_view path;
};

// X(section, name, Type) for every scalar key of schema.cpp.
#define SES_CONFIG_KEYS(X)                       \
    X(daemon, pidfile, string)                   \
    X(daemon, log_level, choice)                 \
    X(daemon, log_target, choice)                \
    X(daemon, syslog_facility, choice)           \
    X(milter, socket, string)                    \
    X(milter, socket_mode, string)               \
    X(milter, socket_owner, string)              \
    X(milter, user, string)                      \
    X(milter, group, string)                     \
    X(milter, on_error, choice)                  \
    X(milter, max_message_size, size)            \
    X(milter, timeout, duration)                 \
    X(milter, backlog, integer)                  \
    X(milter, drain_time, duration)              \
    X(milter, spool_directory, string)           \
    X(milter, spool_threshold, size)             \
    X(dkim, canonicalization, choice)            \
    X(dkim, sign_headers, string_list)           \
    X(dkim, oversign_headers, string_list)       \
    X(dkim, min_rsa_bits, integer)               \
    X(dkim, subdomains, boolean)                 \
    X(dkim, long_lines, choice)                  \
    X(dkim, signer, choice)                      \
    X(warmup, enabled, boolean)                  \
    X(warmup, time_zone, string)                 \
    X(warmup, hold_duration, duration)           \
    X(warmup, release_scheduler, boolean)        \
    X(warmup, release_interval, duration)        \
    X(warmup, release_batch, integer)            \
    X(warmup, release_retry, duration)           \
    X(warmup, outbound_ips, string_list)         \
    X(policy, script, string)                    \
    X(policy, instruction_limit, integer)        \
    X(policy, memory_limit, size)                \
    X(policy, time_limit_ms, integer)            \
    X(store, path, string)                       \
    X(store, sync, choice)                       \
    X(store, sync_interval, duration)            \
    X(store, map_size, size)                     \
    X(store, backend, choice)                    \
    X(store, redis_url, string)                  \
    X(store, redis_pool, integer)                \
    X(store, redis_timeout_ms, integer)          \
    X(store, redis_prefix, string)               \
    X(mta, kind, choice)                         \
    X(mta, config_directory, string)             \
    X(mta, command_prefix, string_list)          \
    X(mta, command_timeout, duration)            \
    X(mta, requeue_margin, duration)             \
    X(mta, log_file, string)                     \
    X(mta, log_poll_interval, duration)          \
    X(mta, default_pool, string)                 \
    X(mta, pool_map, string)                     \
    X(mta, pool_next_hop, string)                \
    X(records, enabled, boolean)                 \
    X(records, keep_days, integer)               \
    X(records, mailbox_groups, string_list)      \
    X(records, purge_interval, duration)         \
    X(suppression, enabled, boolean)             \
    X(suppression, scope, choice)                \
    X(suppression, hard_bounce_expiry, duration) \
    X(suppression, complaint_expiry, duration)   \
    X(simulator, enabled, boolean)               \
    X(simulator, domain, string)                 \
    X(http, listen, string_list)                 \
    X(http, admin_listen, string_list)           \
    X(http, public_url, string)                  \
    X(http, threads, integer)                    \
    X(http, max_connections, integer)            \
    X(http, max_body, size)                      \
    X(http, max_api_body, size)                  \
    X(http, timeout, duration)                   \
    X(http, tls_cert, string)                    \
    X(http, tls_key, string)                     \
    X(http, dashboard_assets, string)            \
    X(send, smtp, string)                        \
    X(send, smtp_user, string)                   \
    X(send, smtp_password, string)               \
    X(send, smtp_password_file, string)          \
    X(send, starttls, boolean)                   \
    X(send, timeout, duration)                   \
    X(send, max_message_size, size)              \
    X(send, refused_attachments, string_list)    \
    X(tasks, max_rows, integer)                  \
    X(tasks, max_row_bytes, integer)             \
    X(tasks, batch, integer)                     \
    X(tasks, poll_interval, duration)            \
    X(tasks, retry, duration)                    \
    X(webhooks, max_age, duration)               \
    X(webhooks, retry_base, duration)            \
    X(webhooks, retry_max, duration)             \
    X(webhooks, verify_tls, boolean)             \
    X(webhooks, poll_interval, duration)         \
    X(return_path, keys, string_list)            \
    X(tracking, keys, string_list)               \
    X(tracking, link_days, integer)              \
    X(outbound, authenticated, boolean)          \
    X(outbound, networks, string_list)           \
    X(outbound, daemons, string_list)            \
    X(verify, enabled, boolean)                  \
    X(verify, authserv_id, string)               \
    X(verify, dmarc_reject, boolean)             \
    X(verify, dmarc_quarantine, boolean)         \
    X(verify, tempfail_on_dns_error, boolean)    \
    X(verify, public_suffix_list, string)        \
    X(templates, enabled, boolean)               \
    X(dns, forwarders, string_list)              \
    X(dns, timeout, duration)                    \
    X(dns, dnssec, boolean)

namespace key {
#define SES_CONFIG_KEY_CONSTANT(section, name, type)           \
    namespace section {                                        \
    inline constexpr Key<Type::type> name{#section "." #name}; \
    }
SES_CONFIG_KEYS(SES_CONFIG_KEY_CONSTANT)
#undef SES_CONFIG_KEY_CONSTANT
}  // namespace key

// Every constant above, for the test that checks them against the table.
struct KeyRef {
    std::string_view path;
    Type type;
};
std::span<const KeyRef> key_constants();

}  // namespace ses::config
