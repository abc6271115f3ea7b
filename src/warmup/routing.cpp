// routing.cpp -- see routing.hpp.
#include "warmup/routing.hpp"

#include "warmup/engine.hpp"

namespace ses::warmup {

const config::PoolConf* pool_for(const config::Config& cfg, std::string_view identity_domain) {
    if (cfg.pools.empty()) return nullptr;
    std::string name = cfg.default_pool;
    for (const auto& d : cfg.domains)
        if (d.name == identity_domain && !d.pool.empty()) name = d.pool;
    for (const auto& p : cfg.pools)
        if (p.name == name) return &p;
    return &cfg.pools.front();  // the loader checked the names
}

Result<Routed> admit_routed(Engine& engine, const mail::Message& m, std::string_view identity_domain,
                            const config::PoolConf& pool, const std::vector<config::PoolConf>& pools) {
    auto ids = [&](const std::string& address) {
        std::vector<IdentityKey> v;
        if (!identity_domain.empty()) v.push_back(IdentityKey::domain(identity_domain));
        v.push_back(IdentityKey::ip(address));
        return v;
    };
    const std::vector<std::string>& own = pool.addresses;
    std::string policy_pool;
    for (size_t i = 0; i < own.size(); ++i) {
        bool last = i + 1 == own.size();
        AdmitOptions opts;
        opts.pass_when_ip_full = !last;
        opts.allow_overflow = last;
        auto d = engine.admit(m, ids(own[i]), opts);
        if (!d) return d.error();
        if (d->action != Decision::Action::overflow) return Routed{std::move(*d), Route{pool.name, own[i], {}}};
        if (!last) continue;  // full: the pool's next address
        policy_pool = d->pool;
    }
    const config::PoolConf* target = nullptr;
    for (const auto& p : pools)
        if (p.name == policy_pool && p.name != pool.name) target = &p;
    if (target) {
        AdmitOptions probe;
        probe.pass_when_ip_full = true;
        for (const auto& a : target->addresses) {
            auto d = engine.admit(m, ids(a), probe);
            if (!d) return d.error();
            if (d->action == Decision::Action::overflow) continue;
            return Routed{std::move(*d), Route{target->name, a, pool.name}};
        }
    }
    // Nowhere to go: the policy's overflow becomes the built-in hold, on
    // the address the message was meant for.
    auto d = engine.admit(m, ids(own.back()), AdmitOptions{});
    if (!d) return d.error();
    if (!d->reason.empty())
        d->reason += target ? "; pool " + target->name + " full as well" : "; no pool named " + policy_pool;
    return Routed{std::move(*d), Route{pool.name, own.back(), {}}};
}

ses::Status apply_routed(Engine& engine, mail::Message& msg, std::string_view identity_domain,
                         const config::PoolConf& pool, const std::vector<config::PoolConf>& pools, Route& route,
                         std::string* log) {
    auto r = admit_routed(engine, msg, identity_domain, pool, pools);
    if (!r) return r.error();
    route = r->route;
    return apply_decision(msg, r->decision, log);
}

}  // namespace ses::warmup
