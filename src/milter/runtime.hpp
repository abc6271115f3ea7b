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
#include "milter/return_path.hpp"
#include "services/services.hpp"
#include "util/result.hpp"

namespace ses::milter {

struct Runtime {
    config::Config cfg;
    dkim::KeyStore keys;
    std::unique_ptr<dkim::Signer> signer;
    std::shared_ptr<services::Services> services;  // outlives every snapshot; may be null in tests
    std::shared_ptr<auth::AuthRuntime> auth;
    ReturnPathRules return_path;    // from cfg: tag keys and return-path domains
    bool templates_enabled = true;  // templates.enabled, read once per snapshot       // identities, inbound checks;
                                    // null in tests: all mail outbound

    static Result<std::shared_ptr<const Runtime>> build(config::Config cfg,
                                                        std::shared_ptr<services::Services> services = nullptr);
};

// The current snapshot (thread-safe).
std::shared_ptr<const Runtime> current();
void install(std::shared_ptr<const Runtime> rt);

}  // namespace ses::milter
