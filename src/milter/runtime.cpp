// runtime.cpp -- see runtime.hpp.
#include "milter/runtime.hpp"

#include <mutex>

#include "mail/body.hpp"
#include "util/strings.hpp"

namespace ses::milter {
namespace {
std::mutex g_mu;
std::shared_ptr<const Runtime> g_current;
}  // namespace

MessageSettings MessageSettings::from(const config::Config& cfg) {
    MessageSettings s;
    s.templates_enabled = cfg.get(config::key::templates::enabled);
    s.simulator.enabled = cfg.get(config::key::simulator::enabled);
    s.simulator.domain = str::lower(cfg.get(config::key::simulator::domain));
    s.long_lines = mail::long_line_policy(cfg.get(config::key::dkim::long_lines));
    s.public_base = cfg.get(config::key::http::public_url);
    while (!s.public_base.empty() && s.public_base.back() == '/') s.public_base.pop_back();
    return s;
}

Result<std::shared_ptr<const Runtime>> Runtime::build(config::Config cfg,
                                                      std::shared_ptr<services::Services> services) {
    mail::SpoolSettings spool{cfg.get(config::key::milter::spool_directory),
                              cfg.get(config::key::milter::spool_threshold)};
    if (auto st = mail::check_spool_directory(spool.directory); !st) return st.error();
    mail::set_spool_settings(std::move(spool));
    auto rt = std::make_shared<Runtime>();
    rt->services = std::move(services);
    auto keys = dkim::KeyStore::load(cfg);
    if (!keys) return keys.error();
    rt->keys = std::move(*keys);
    auto signer = dkim::Signer::create(cfg);
    if (!signer) return signer.error();
    rt->signer = std::move(*signer);
    auto auth = auth::AuthRuntime::create(cfg, rt->services ? rt->services->store : nullptr);
    if (!auth) return auth.error();
    rt->auth = std::move(*auth);
    rt->settings = MessageSettings::from(cfg);
    rt->return_path = ReturnPathRules::from(cfg);
    rt->cfg = std::move(cfg);
    return std::shared_ptr<const Runtime>(std::move(rt));
}

std::shared_ptr<const Runtime> current() {
    std::lock_guard lk(g_mu);
    return g_current;
}

void install(std::shared_ptr<const Runtime> rt) {
    std::lock_guard lk(g_mu);
    g_current = std::move(rt);
}

}  // namespace ses::milter
