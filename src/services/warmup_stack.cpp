// warmup_stack.cpp -- see warmup_stack.hpp.
#include "services/warmup_stack.hpp"

#include "mta/settings.hpp"
#include "policy/settings.hpp"
#include "store/settings.hpp"
#include "warmup/hooks.hpp"
#include "warmup/settings.hpp"

namespace ses::services {

Result<WarmupStack> open_warmup_stack(const config::Config& cfg, std::shared_ptr<store::Env> env,
                                      std::shared_ptr<store::SharedState> shared) {
    WarmupStack w;
    w.settings = warmup::from_config(cfg);
    w.policy_settings = policy::settings_from(cfg);
    w.mta_settings = mta::settings_from(cfg);
    if (!env) {
        store::Options o = store::options_from(cfg);
        auto e = store::Env::open(o);
        if (!e) return Error{"store " + o.path + ": " + e.error().what, {}};
        env = *e;
    }
    w.env = env;
    auto pol = policy::Policy::open(w.policy_settings, warmup::hook_defs());
    if (!pol) return Error{"policy.script: " + pol.error().what, {}};
    w.policy = *pol;
    if (auto so = store::shared_options_from(cfg); !shared && so.backend != "lmdb") {
        auto sh = store::open_shared_state(so, w.env);
        if (!sh) return Error{"store.redis_url: " + sh.error().what, {}};
        shared = *sh;
    }
    w.shared = shared;
    auto eng = warmup::Engine::open(w.settings, w.env, w.policy, shared);
    if (!eng) return Error{"warm-up: " + eng.error().what, {}};
    w.engine = std::shared_ptr<warmup::Engine>(std::move(*eng));
    return w;
}

Result<std::vector<std::string>> check_warmup_script(const config::Config& cfg) {
    return policy::check_script(policy::settings_from(cfg), warmup::hook_defs());
}

}  // namespace ses::services
