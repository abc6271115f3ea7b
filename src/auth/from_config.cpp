// from_config.cpp -- see from_config.hpp.
#include "auth/from_config.hpp"

#include <type_traits>

#include "util/strings.hpp"

namespace ses::auth {

namespace {

// Which members the configuration has (the key table grows over time).
template <class C> concept HasDns = requires(const C& c) { c.dns; };
template <class C> concept HasOutbound = requires(const C& c) { c.outbound; };
template <class C> concept HasVerify = requires(const C& c) { c.verify; };
template <class D> concept HasSmtpUsers = requires(const D& d) { d.smtp_users; };
template <class D> concept HasOutboundIps = requires(const D& d) { d.outbound_ips; };
template <class D> concept HasRequireVerified = requires(const D& d) { d.require_verified; };
template <class D> concept HasAlignment = requires(const D& d) { d.alignment; };

template <class C>
dns::Settings dns_of(const C& c) {
    if constexpr (HasDns<C>)
        return c.dns;
    else
        return dns::Settings();
}

template <class C>
OutboundSettings outbound_of(const C& c) {
    if constexpr (HasOutbound<C>)
        return c.outbound;
    else
        return OutboundSettings();
}

template <class C>
VerifySettings verify_of(const C& c) {
    if constexpr (HasVerify<C>)
        return c.verify;
    else
        return VerifySettings();
}

template <class D>
IdentityConf identity_of(const D& d) {
    IdentityConf id;
    id.domain = str::lower(d.name);
    for (auto& k : d.dkim) id.dkim.push_back({k.selector, k.key});
    if constexpr (HasSmtpUsers<D>) id.smtp_users = d.smtp_users;
    if constexpr (HasOutboundIps<D>) id.outbound_ips = d.outbound_ips;
    if constexpr (HasRequireVerified<D>) id.require_verified = d.require_verified;
    if constexpr (HasAlignment<D>) {
        using A = std::decay_t<decltype(d.alignment)>;
        if constexpr (std::is_same_v<A, Alignment>)
            id.alignment = d.alignment;
        else
            id.alignment = str::iequals(d.alignment, "strict") ? Alignment::strict : Alignment::relaxed;
    }
    return id;
}

}  // namespace

dns::Settings dns_settings(const config::Config& cfg) { return dns_of(cfg); }
OutboundSettings outbound_settings(const config::Config& cfg) { return outbound_of(cfg); }
VerifySettings verify_settings(const config::Config& cfg) { return verify_of(cfg); }

std::vector<IdentityConf> identities(const config::Config& cfg) {
    std::vector<IdentityConf> out;
    for (auto& d : cfg.domains) out.push_back(identity_of(d));
    return out;
}

bool identity_subdomains(const config::Config& cfg) { return cfg.dkim.subdomains; }

}  // namespace ses::auth
