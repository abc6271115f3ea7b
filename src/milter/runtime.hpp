// runtime.hpp -- everything a message decision needs, as one snapshot.
//
// Built from a Config at start and on every reload; sessions take a
// shared_ptr to the current snapshot when a transaction starts (MAIL FROM),
// so a reload never changes the rules under a message in flight and never
// drops a connection.  Immutable after build; shared by all threads.
#pragma once

#include <memory>

#include "auth/runtime.hpp"
#include "config/config.hpp"
#include "dkim/key_store.hpp"
#include "dkim/signer.hpp"
#include "mail/long_lines.hpp"
#include "milter/return_path.hpp"
#include "records/simulator.hpp"
#include "services/services.hpp"
#include "util/result.hpp"

namespace ses::milter {

// Per-message settings read once per snapshot: Config::get walks the TOML
// tree by path, and every message needs these.
struct MessageSettings {
    bool templates_enabled = true;                                     // templates.enabled
    records::SimulatorSettings simulator;                              // [simulator]
    mail::LongLinePolicy long_lines = mail::LongLinePolicy::reencode;  // dkim.long_lines
    std::string public_base;                                           // http.public_url without trailing '/'

    static MessageSettings from(const config::Config& cfg);
};

struct Runtime {
    config::Config cfg;
    dkim::KeyStore keys;
    std::unique_ptr<dkim::Signer> signer;
    std::shared_ptr<services::Services> services;  // outlives every snapshot; may be null in tests
    std::shared_ptr<auth::AuthRuntime> auth;       // identities, inbound checks; null in tests: all mail outbound
    ReturnPathRules return_path;                   // from cfg: tag keys and return-path domains
    MessageSettings settings;                      // from cfg
    static Result<std::shared_ptr<const Runtime>> build(config::Config cfg,
                                                        std::shared_ptr<services::Services> services = nullptr);
};

// The current snapshot (thread-safe).
std::shared_ptr<const Runtime> current();
void install(std::shared_ptr<const Runtime> rt);

}  // namespace ses::milter
