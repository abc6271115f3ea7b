// from_config.cpp -- see from_config.hpp.  The keys are declared in
// src/config/schema.cpp.
#include "auth/from_config.hpp"

namespace ses::auth {

dns::Settings dns_settings(const config::Config& c) {
    dns::Settings s;
    s.forwarders = c.get(config::key::dns::forwarders);
    s.timeout = c.get(config::key::dns::timeout);
    s.dnssec = c.get(config::key::dns::dnssec);
    return s;
}

OutboundSettings outbound_settings(const config::Config& c) {
    OutboundSettings s;
    s.authenticated = c.get(config::key::outbound::authenticated);
    s.networks = c.get(config::key::outbound::networks);
    s.daemons = c.get(config::key::outbound::daemons);
    return s;
}

VerifySettings verify_settings(const config::Config& c) {
    VerifySettings s;
    s.enabled = c.get(config::key::verify::enabled);
    s.authserv_id = c.get(config::key::verify::authserv_id);
    s.dmarc_reject = c.get(config::key::verify::dmarc_reject);
    s.dmarc_quarantine = c.get(config::key::verify::dmarc_quarantine);
    s.tempfail_on_dns_error = c.get(config::key::verify::tempfail_on_dns_error);
    s.public_suffix_list = c.get(config::key::verify::public_suffix_list);
    return s;
}

std::vector<IdentityConf> identities(const config::Config& cfg) {
    std::vector<IdentityConf> out;
    for (auto& d : cfg.domains) {
        IdentityConf id;
        id.domain = d.name;
        for (auto& k : d.dkim) id.dkim.push_back({k.selector, k.key});
        id.smtp_users = d.smtp_users;
        id.outbound_ips = d.outbound_ips;
        id.require_verified = d.require_verified;
        id.alignment = d.strict_alignment ? Alignment::strict : Alignment::relaxed;
        out.push_back(std::move(id));
    }
    return out;
}

bool identity_subdomains(const config::Config& cfg) { return cfg.dkim.subdomains; }

}  // namespace ses::auth
