// runtime.cpp -- see runtime.hpp.
#include "auth/runtime.hpp"

#include "auth/from_config.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::auth {

Result<std::unique_ptr<AuthRuntime>> AuthRuntime::create(const config::Config& cfg, std::shared_ptr<store::Env> env) {
    auto rt = std::make_unique<AuthRuntime>();
    dns::Settings ds = dns_settings(cfg);
    auto res = dns::Resolver::create(ds);
    if (!res) return res.error();
    rt->dns = *res;
    rt->outbound = outbound_settings(cfg);
    rt->verify = verify_settings(cfg);
    for (auto& n : rt->outbound.networks)
        if (auto why = check_cidr(n)) return internal_error("outbound.networks: " + *why);
    rt->identities = auth::identities(cfg);
    for (auto& id : rt->identities)
        for (auto& ip : id.outbound_ips)
            if (auto why = check_cidr(ip)) return internal_error("domain " + id.domain + " outbound_ips: " + *why);

    std::string receiver = rt->verify.authserv_id.empty() ? host_name() : rt->verify.authserv_id;
    rt->spf = std::make_shared<Spf>(rt->dns, receiver);
    dkim::VerifierOptions vo;
    vo.timeout = ds.timeout;
    rt->dkim = std::make_shared<dkim::Verifier>(rt->dns, vo);
    rt->dmarc = std::make_shared<Dmarc>(rt->dns, rt->verify.public_suffix_list);
    if (env) rt->store = std::make_unique<VerificationStore>(env);

    StatusFn status;
    if (rt->store) status = rt->store->status_fn();
    rt->identity =
        std::make_unique<IdentityStage>(rt->identities, identity_subdomains(cfg), rt->dmarc->org_fn(), status);
    if (rt->verify.enabled) rt->inbound = std::make_unique<Inbound>(rt->verify, rt->spf, rt->dkim, rt->dmarc);
    return rt;
}

std::vector<IdentityReport> AuthRuntime::verify_identities() const {
    return verify_all(identities, *dns, *spf, *dmarc, store.get(), clock::now());
}

}  // namespace ses::auth
