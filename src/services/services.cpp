// services.cpp -- see services.hpp.
#include "services/services.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "mta/adapter.hpp"
#include "util/log.hpp"

namespace ses::services {

Result<std::shared_ptr<Services>> Services::open(const config::Config& cfg) {
    auto s = std::make_shared<Services>();
    s->warmup_settings = warmup::from_config(cfg);
    const auto& ws = s->warmup_settings;
    if (mkdir(ws.store.path.c_str(), 0750) != 0 && errno != EEXIST)
        return internal_error("store.path " + ws.store.path + ": " + std::strerror(errno));
    auto env = store::Env::open(ws.store);
    if (!env) return Error{"store " + ws.store.path + ": " + env.error().what, {}};
    s->store = *env;
    auto templates = tmpl::LmdbTemplateStore::open(s->store);
    if (!templates) return Error{"template store: " + templates.error().what, {}};
    s->templates = std::move(*templates);
    if (ws.enabled) {
        auto pol = policy::Policy::open(ws.policy);
        if (!pol) return Error{"policy.script: " + pol.error().what, {}};
        s->policy = *pol;
        auto eng = warmup::Engine::open(ws, s->store, s->policy);
        if (!eng) return Error{"warm-up: " + eng.error().what, {}};
        s->warmup = std::shared_ptr<warmup::Engine>(std::move(*eng));
        if (ws.release_scheduler)
            s->scheduler =
                std::make_unique<ReleaseScheduler>(*s->warmup, mta::make_adapter(ws.mta), ws.release_interval);
    }
    return s;
}

void Services::start() {
    if (scheduler) scheduler->start();
}

void Services::reload(const config::Config& cfg) {
    warmup::Settings next = warmup::from_config(cfg);
    if (next.enabled != warmup_settings.enabled || next.store.path != warmup_settings.store.path ||
        next.time_zone != warmup_settings.time_zone || next.policy.script != warmup_settings.policy.script ||
        next.mta.kind != warmup_settings.mta.kind || next.mta.config_directory != warmup_settings.mta.config_directory)
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
