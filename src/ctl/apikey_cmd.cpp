// apikey_cmd.cpp -- `sesctl apikey create|list|revoke`.
//
// `create` prints the key once (the store keeps only its SHA-256); a running
// daemon sees new and revoked keys at the next request.
//
// Errors: a bad or duplicate name, an unknown name to revoke, or a store
// that cannot be opened fail the command (exit 1 / 2) with a message.
#include "ctl/apikey_cmd.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

#include "ctl/open_store.hpp"
#include "records/apikeys.hpp"
#include "util/clock.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

Result<records::ApiKeys> open_keys(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return Error{"store: " + env.error().what, {}};
    return records::ApiKeys(*env);
}

int create(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl apikey create NAME", 2);
    auto keys = open_keys(c);
    if (!keys) return fail(c, keys.error().what);
    auto key = keys->create(c.args[0], clock::now());
    if (!key) return fail(c, key.error().what);
    if (c.json)
        c.out << json{{"name", c.args[0]}, {"key", *key}}.dump(2) << "\n";
    else
        c.out << *key << "\n";
    return 0;
}

int list(Context& c) {
    if (!c.args.empty()) return fail(c, "usage: sesctl apikey list", 2);
    auto keys = open_keys(c);
    if (!keys) return fail(c, keys.error().what);
    auto all = keys->list();
    if (!all) return fail(c, all.error().what);
    if (c.json) {
        json arr = json::array();
        for (const auto& k : *all) arr.push_back({{"name", k.name}, {"created", clock::format_rfc3339(k.created)}});
        c.out << json{{"keys", arr}}.dump(2) << "\n";
        return 0;
    }
    if (all->empty()) c.out << "no API keys\n";
    for (const auto& k : *all) c.out << k.name << "  created " << clock::format_rfc3339(k.created) << "\n";
    return 0;
}

int revoke(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl apikey revoke NAME", 2);
    auto keys = open_keys(c);
    if (!keys) return fail(c, keys.error().what);
    if (Status st = keys->revoke(c.args[0]); !st) return fail(c, st.error().what);
    if (c.json)
        c.out << json{{"name", c.args[0]}, {"revoked", true}}.dump(2) << "\n";
    else
        c.out << "revoked " << c.args[0] << "\n";
    return 0;
}

}  // namespace

std::vector<Command> apikey_commands() {
    return {
        {"apikey create", "NAME",
         "make an API key for the HTTP endpoint's operator routes; printed once (only its hash is stored)", create},
        {"apikey list", "", "the API keys' names and creation times", list},
        {"apikey revoke", "NAME", "delete an API key: requests with it get 401 at once", revoke},
    };
}

}  // namespace ses::ctl
