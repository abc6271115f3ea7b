// pools.hpp -- the MTA side of sending pools (docs/pools.md): the routing
// header, the Postfix configuration that routes on it, and the comparison
// of that configuration with the one Postfix runs.
//
// sesmilter adds `X-SES-Pool: POOL ADDRESS` after signing.  Postfix matches
// it with milter_header_checks (headers added by a milter; Postfix >= 2.7)
// and `FILTER ses_ADDRESS:` sends the message through one smtp transport
// per address (smtp_bind_address with smtp_bind_address_enforce = yes,
// Postfix >= 3.7; the address family pinned; smtp_helo_name).  The FILTER's
// next hop is [mta] pool_next_hop; empty, Postfix uses the recipient
// domain's MX (measured on 3.7: relayhost does not apply then).
// Sendmail cannot do this: a milter cannot choose the client address of a
// delivery there (sendmail_pools_note()).
//
// Pure functions, except check_postfix_pools(), which runs postconf (under
// [mta] command_prefix) and reads the map file.  Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace ses::mta {

inline constexpr std::string_view kPoolHeader = "X-SES-Pool";

// "127.0.0.3" -> "ses_127_0_0_3", "2001:db8::1" -> "ses_2001_db8__1".
std::string pool_transport(std::string_view address);
// The header's value: "dedicated 127.0.0.3".
std::string pool_header_value(std::string_view pool, std::string_view address);
// [mta] pool_map, else sesmilter_pools.regexp in [mta] config_directory
// (else /etc/postfix).
std::string pool_map_path(const config::Config& cfg);

struct PostfixPoolConfig {
    std::vector<std::string> main_cf;    // "name = value"
    std::vector<std::string> master_cf;  // service lines and their "  -o name=value" lines
    std::string map_path;
    std::vector<std::string> map;  // the regexp table, one line per address
};
PostfixPoolConfig postfix_pool_config(const std::vector<config::PoolConf>& pools, const std::string& map_path,
                                      const std::string& next_hop = {});
// The same for a loaded configuration ([mta] pool_map, pool_next_hop).
PostfixPoolConfig postfix_pool_config(const config::Config& cfg);

// All of it as text: the three parts under "# main.cf", "# master.cf" and
// "# PATH" comment lines.
std::string postfix_pool_text(const PostfixPoolConfig& c);

// Why Sendmail cannot route pools, and what to do instead.
std::string sendmail_pools_note();

// Where `want` and Postfix disagree, one line each.  `postconf_n` is
// `postconf -n`, `postconf_m` `postconf -M`, `postconf_p` `postconf -P`;
// `map` the map file (nullopt: unreadable).
std::vector<std::string> compare_postfix_pools(const PostfixPoolConfig& want, std::string_view postconf_n,
                                               std::string_view postconf_m, std::string_view postconf_p,
                                               const std::optional<std::string>& map);

// The same against the running configuration: postconf -c DIR -n / -M / -P
// under [mta] command_prefix, and the map file.  An error when postconf
// cannot be run.
Result<std::vector<std::string>> check_postfix_pools(const config::Config& cfg);

}  // namespace ses::mta
