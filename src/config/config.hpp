// config.hpp -- the effective configuration, typed.
//
// load() reads one TOML file, checks it against the key table (schema.hpp)
// and fills Config with the file's values or the table's defaults.  Errors
// come back as one Error whose text lists every problem as
// "FILE:LINE:COL: key: expected ..., got ...".  A Config is immutable once
// loaded; a reload builds a new one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/keys.hpp"
#include "util/result.hpp"

namespace ses::config {

enum class OnError { tempfail, accept };

struct DkimKeyConf {
    std::string selector;
    std::string key;  // path to the private key
    int line = 0;     // where `key` is written, for start-up errors
};

struct DomainConf {
    std::string name;  // lower case
    std::vector<DkimKeyConf> dkim;
    std::vector<std::string> smtp_users;
    std::vector<std::string> outbound_ips;
    bool require_verified = false;
    bool strict_alignment = false;
    std::string return_path_domain;          // lower case; empty: the envelope sender is left as submitted
    bool one_recipient_per_message = false;  // 452 4.5.3 to each RCPT after the first
    bool track_opens = false;                // open pixel in HTML parts (docs/tracking.md)
    bool track_clicks = false;               // links in HTML parts rewritten
    bool unsubscribe = false;                // List-Unsubscribe + List-Unsubscribe-Post (RFC 8058)
    std::string pool;                        // [[pool]] name; empty: the default pool (docs/pools.md)
};

// One [[pool]] of sending addresses (docs/pools.md).  Each address gets its
// own MTA transport and is a warm-up identity of its own (ip:ADDRESS).
struct PoolConf {
    std::string name;
    std::vector<std::string> addresses;  // IPv4 or IPv6 literals, canonical text, each in one pool only
    std::string helo_name;               // EHLO name of the pool's transports; empty: the MTA's own
};

// The event type names a [[webhook]] `events` list may name, so that a
// misspelt one fails loading (and --check-config); records::event_name()
// is the source and a unit test keeps the two equal.
inline constexpr std::string_view kWebhookEventNames[] = {
    "processed", "delivered",   "deferred", "bounce",   "dropped",           "spamreport", "open",
    "click",     "unsubscribe", "held",     "released", "rendering_failure", "auto_reply"};

// One [[webhook]] endpoint (docs/events.md).
struct WebhookConf {
    std::string id;  // `name`, else the URL: its outbox entries are kept under it
    std::string url;
    std::vector<std::string> secrets;  // the first signs; every one gets a v1= value
    std::vector<std::string> events;   // empty: all
    std::string format = "ses";        // "ses" | "tencent"
    int64_t timeout = 10;
    int64_t batch_max = 100;
};

// One return-path tag key ([return_path] keys = ["ID:SECRET", ...]).
struct ReturnPathKey {
    int id = 0;  // 1..15, written into each tag
    std::string secret;
};

struct Config {
    std::string path;  // the file it came from ("" for built-in defaults)

    struct {
        std::string pidfile;
        std::string log_level;
        std::string log_target;
        std::string syslog_facility;
    } daemon;

    struct {
        std::string socket;
        unsigned socket_mode = 0660;
        std::string socket_owner;
        OnError on_error = OnError::tempfail;
        uint64_t max_message_size = 10000000;
        int64_t timeout = 300;
        int backlog = 128;
    } milter;

    struct {
        bool header_relaxed = true;
        bool body_relaxed = true;
        std::vector<std::string> sign_headers;
        std::vector<std::string> oversign_headers;
        int min_rsa_bits = 1024;
        bool subdomains = true;
        std::string signer = "native";  // "native" | "opendkim"
    } dkim;

    std::vector<DomainConf> domains;
    std::vector<ReturnPathKey> return_path_keys;  // the first is the current key
    std::vector<ReturnPathKey> tracking_keys;     // [tracking] keys; the first is the current key
    std::vector<WebhookConf> webhooks;
    std::vector<PoolConf> pools;  // in file order
    std::string default_pool;     // [mta] default_pool, else the first pool; "" without pools

    // The value of a scalar key (config/keys.hpp): the file's value or the
    // declared default, as the key's C++ type.  Each module reads its own
    // section this way, so a key is declared once, in schema.cpp, and a
    // misspelt key name does not compile.
    template <Type T>
    typename ValueOf<T>::type get(Key<T> key) const;

    // The effective configuration as TOML (file values plus defaults).
    std::string dump() const;
    std::string effective_toml;
    std::shared_ptr<const void> tree;  // the effective toml::table
};

Result<Config> load_file(const std::string& path);
Result<Config> load_string(std::string_view text, std::string_view source_name);

// Generated documentation.
// One-click unsubscribe (RFC 8058) needs an https URL; plain http only to
// a loopback host (tests).  True when URL is such a URL.
bool unsubscribe_url_ok(std::string_view url);

std::string reference_markdown();
std::string example_toml();
std::string reference_man();  // sesmilter.toml(5), roff

}  // namespace ses::config
