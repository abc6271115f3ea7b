// settings.hpp -- the configuration of sender identity and authentication.
//
// Plain structs with the defaults the key table documents; src/config fills
// them.  Sections: [outbound], [verify], and per [[domain]] the identity
// keys (smtp_users, outbound_ips, require_verified, alignment).  [dns] is
// dns::Settings (dns/resolver.hpp).  No behaviour here.
#pragma once

#include <string>
#include <vector>

namespace ses::auth {

// Which traffic is outbound (submission): checked against the identities,
// signed, counted.  Everything else is inbound and, with [verify] enabled,
// verified.
struct OutboundSettings {
    bool authenticated = true;                                       // SASL-authenticated clients
    std::vector<std::string> networks = {"127.0.0.0/8", "::1/128"};  // client address CIDRs
    std::vector<std::string> daemons = {"ORIGINATING"};              // {daemon_name} values
};

struct VerifySettings {
    bool enabled = false;               // check SPF, DKIM and DMARC on inbound mail
    std::string authserv_id;            // Authentication-Results id; "" = the host name
    bool dmarc_reject = false;          // 550 5.7.1 when DMARC fails and the policy is reject
    bool dmarc_quarantine = false;      // hold (quarantine) when DMARC fails and the policy is quarantine
    bool tempfail_on_dns_error = true;  // 451 4.4.3 when a check could not be made for a DNS reason
    std::string public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
};

enum class Alignment { relaxed, strict };

struct DkimKeyRef {
    std::string selector;
    std::string key;  // private key file
};

// One [[domain]] seen as a sending identity.
struct IdentityConf {
    std::string domain;                        // lower case
    std::vector<DkimKeyRef> dkim;              // its [[domain.dkim]] keys
    std::vector<std::string> smtp_users;       // SASL names allowed to send as it; empty: any authenticated user
    std::vector<std::string> outbound_ips;     // addresses this MTA sends from for it
    bool require_verified = false;             // refuse mail until `identity verify` finds it verified
    Alignment alignment = Alignment::relaxed;  // From: vs DKIM signing domain
};

}  // namespace ses::auth
