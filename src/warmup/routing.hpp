// routing.hpp -- which address of which [[pool]] a message leaves from, and
// the warm-up charge for that address (docs/pools.md).
//
// An identity sends from its pool ([[domain]] pool, else [mta] default_pool,
// else the first [[pool]]).  With warm-up on, the addresses of the pool are
// tried in order; the message goes from the first one whose quota (ip:ADDRESS)
// and the domain's both still fit, charged to both in one transaction
// (Engine::admit).  When none fits, on_over_quota is asked for the last one:
// `overflow` to another pool tries that pool's addresses the same way (no
// second overflow); when none of them fits either, the message is held on
// its own pool's last address, as the built-in rule does.  Quota never
// comes back within a day, so an address found full stays full: the choice
// is exact under any number of parallel sessions (the tests run 20).
// Without warm-up, the pool's first address sends everything.
//
// The route becomes the `X-SES-Pool: POOL ADDRESS` header (added after
// signing); Postfix routes on it (mta/pools.hpp).  A held message carries
// it too, so it leaves from the charged address when it is released.
//
// Errors: the store's, as Engine::admit.  Thread safety: as Engine.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "mail/message.hpp"
#include "util/result.hpp"
#include "warmup/decision.hpp"

namespace ses::warmup {

class Engine;

struct Route {
    std::string pool;
    std::string address;
    std::string overflow_from;  // the pool the policy overflowed from, else ""
};

// The pool of a sending identity; nullptr when no [[pool]] is configured.
const config::PoolConf* pool_for(const config::Config& cfg, std::string_view identity_domain);

// The decision and the route for one message; the Decision as
// Engine::admit's (never overflow).
struct Routed {
    Decision decision;
    Route route;
};
Result<Routed> admit_routed(Engine& engine, const mail::Message& m, std::string_view identity_domain,
                            const config::PoolConf& pool, const std::vector<config::PoolConf>& pools);

// admit_routed() applied to the message as warmup::apply() does; `route`
// gets the route, `log` the fields of the message's log line.
ses::Status apply_routed(Engine& engine, mail::Message& msg, std::string_view identity_domain,
                         const config::PoolConf& pool, const std::vector<config::PoolConf>& pools, Route& route,
                         std::string* log = nullptr);

}  // namespace ses::warmup
