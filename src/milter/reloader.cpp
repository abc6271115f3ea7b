// reloader.cpp -- see reloader.hpp.
#include "milter/reloader.hpp"

#include "milter/runtime.hpp"
#include "util/log.hpp"

namespace ses::milter {
namespace {

bool refuse(const std::string& why) {
    log::error("reload refused, keeping the running configuration: " + why);
    return false;
}

}  // namespace

bool Reloader::reload_once() {
    auto svc = services_.lock();
    if (!svc) return false;
    auto cfg = config::load_file(path_);
    if (!cfg) return refuse(cfg.error().what);
    auto old = milter::current();
    if (old && old->cfg.milter.socket != cfg->milter.socket)
        log::warn("reload: milter.socket changed; the new socket takes effect after a restart");
    if (old && old->cfg.daemon.pidfile != cfg->daemon.pidfile)
        log::warn("reload: daemon.pidfile changed; it takes effect after a restart");
    log::Level level = log::Level::info;
    log::parse_level(cfg->daemon.log_level, level);
    auto staged = svc->stage_reload(*cfg);
    if (!staged) return refuse(staged.error().what);
    auto rt = milter::Runtime::build(std::move(*cfg), svc);
    if (!rt) return refuse(rt.error().what);
    // Everything is checked; from here on nothing new is half in place.
    bool script = staged->has_script;
    if (auto st = svc->commit_reload(std::move(*staged)); !st) return refuse(st.error().what);
    milter::install(*rt);
    log::set_level(level);
    log::notice("reload: configuration and keys reloaded from " + path_ + " (" +
                std::to_string((*rt)->cfg.domains.size()) + " domains, " + std::to_string((*rt)->keys.key_count()) +
                " keys" + (script ? ", policy script reloaded" : "") + ")");
    return true;
}

void Reloader::start() {
    // SIGHUPs that arrive during a reload are folded into one more reload.
    worker_.start([this](util::Worker& w) {
        while (w.wait()) reload_once();
    });
}

void Reloader::stop() { worker_.stop(); }

void Reloader::request() { worker_.wake(); }

}  // namespace ses::milter
