// from_config.hpp -- the authentication settings out of the configuration.
//
// The daemon and sesctl both need [dns], [outbound], [verify] and the
// identity keys of every [[domain]] as the plain structs the auth and dns
// modules take.  These adapters read them from config::Config:
// [dns], [outbound], [verify] and the identity keys of [[domain]]
// (smtp_users, outbound_ips, require_verified, alignment), read through
// Config's typed accessors from the keys declared in the key table.
//
// Pure; thread-safe.
#pragma once

#include <vector>

#include "auth/settings.hpp"
#include "config/config.hpp"
#include "dns/resolver.hpp"

namespace ses::auth {

dns::Settings dns_settings(const config::Config& cfg);
OutboundSettings outbound_settings(const config::Config& cfg);
VerifySettings verify_settings(const config::Config& cfg);
std::vector<IdentityConf> identities(const config::Config& cfg);
bool identity_subdomains(const config::Config& cfg);  // [dkim] subdomains

}  // namespace ses::auth
