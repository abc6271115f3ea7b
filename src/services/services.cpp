// services.cpp -- see services.hpp.
#include "services/services.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "mta/adapter.hpp"
#include "mta/settings.hpp"
#include "policy/settings.hpp"
#include "services/warmup_stack.hpp"
#include "store/settings.hpp"
#include "util/log.hpp"

namespace ses::services {

Result<std::shared_ptr<Services>> Services::open(const config::Config& cfg) {
    auto s = std::make_shared<Services>();
    s->warmup_settings = warmup::from_config(cfg);
    s->store_options = store::options_from(cfg);
    s->policy_settings = policy::settings_from(cfg);
    s->mta_settings = mta::settings_from(cfg);
    const auto& ws = s->warmup_settings;
    const auto& so = s->store_options;
    if (mkdir(so.path.c_str(), 0750) != 0 && errno != EEXIST)
        return internal_error("store.path " + so.path + ": " + std::strerror(errno));
    auto env = store::Env::open(so);
    if (!env) return Error{"store " + so.path + ": " + env.error().what, {}};
    s->store = *env;
    auto templates = tmpl::LmdbTemplateStore::open(s->store);
    if (!templates) return Error{"template store: " + templates.error().what, {}};
    s->templates = std::move(*templates);
    if (ws.enabled) {
        auto stack = open_warmup_stack(cfg, s->store);  // the same builder as sesctl's
        if (!stack) return stack.error();
        s->policy = stack->policy;
        s->warmup = stack->engine;
        if (ws.release_scheduler)
            s->scheduler = std::make_unique<ReleaseScheduler>(*s->warmup, mta::make_adapter(stack->mta_settings),
                                                              ws.release_interval);
    }
    return s;
}

void Services::start() {
    if (scheduler) scheduler->start();
}

void Services::reload(const config::Config& cfg) {
    warmup::Settings next = warmup::from_config(cfg);
    policy::Settings next_policy = policy::settings_from(cfg);
    mta::Settings next_mta = mta::settings_from(cfg);
    if (next.enabled != warmup_settings.enabled || store::options_from(cfg).path != store_options.path ||
        next.time_zone != warmup_settings.time_zone || next_policy.script != policy_settings.script ||
        next_mta.kind != mta_settings.kind || next_mta.config_directory != mta_settings.config_directory)
        log::warn("reload: [warmup], [policy] script, [store] and [mta] changes take effect after a restart");
    if (policy) {
        if (auto st = policy->reload(); !st)
            log::error("reload: policy script refused, keeping the running one: " + st.error().what);
        else
            log::notice("reload: policy script reloaded");
    }
}

void Services::stop() {
    if (scheduler) scheduler->stop();
}

Services::~Services() { stop(); }

}  // namespace ses::services
