// apikey_cmd.cpp -- `sesctl apikey create|list|revoke`.
//
// `create` prints the key once (the store keeps only its SHA-256); a running
// daemon sees new and revoked keys at the next request.
//
// Errors: a bad or duplicate name, an unknown name to revoke, or a store
// that cannot be opened fail the command (exit 1 / 2) with a message.
#include "ctl/apikey_cmd.hpp"

#include <algorithm>
#include <cctype>
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

// --identity D, repeatable (the values arrive one per line), or a comma list.
Result<std::vector<std::string>> identities_of(Context& c) {
    std::vector<std::string> out;
    auto v = c.opt("identity");
    if (!v) return out;
    std::string cur;
    for (char ch : *v + "\n") {
        if (ch == '\n' || ch == ',') {
            if (cur.empty()) return Error{"--identity needs a domain", {}};
            bool known = false;
            for (const auto& d : c.cfg.domains) known = known || d.name == cur;
            if (!known) return Error{"--identity " + cur + ": not a configured [[domain]]", {}};
            if (std::find(out.begin(), out.end(), cur) == out.end()) out.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
    }
    return out;
}

json identities_json(const records::ApiKeyInfo& k) { return k.identities.empty() ? json(nullptr) : json(k.identities); }

int create(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl apikey create NAME [--identity D]...", 2);
    auto ids = identities_of(c);
    if (!ids) return fail(c, ids.error().what, 2);
    auto keys = open_keys(c);
    if (!keys) return fail(c, keys.error().what);
    auto key = keys->create(c.args[0], clock::now(), *ids);
    if (!key) return fail(c, key.error().what);
    if (c.json)
        c.out << json{{"name", c.args[0]}, {"key", *key}, {"identities", ids->empty() ? json(nullptr) : json(*ids)}}
                     .dump(2)
              << "\n";
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
        for (const auto& k : *all)
            arr.push_back(
                {{"name", k.name}, {"created", clock::format_rfc3339(k.created)}, {"identities", identities_json(k)}});
        c.out << json{{"keys", arr}}.dump(2) << "\n";
        return 0;
    }
    if (all->empty()) c.out << "no API keys\n";
    for (const auto& k : *all) {
        c.out << k.name << "  created " << clock::format_rfc3339(k.created) << "  identities ";
        if (k.identities.empty()) c.out << "(all)";
        for (size_t i = 0; i < k.identities.size(); ++i) c.out << (i ? "," : "") << k.identities[i];
        c.out << "\n";
    }
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
        {"apikey create", "NAME [--identity D]...",
         "make an API key for the HTTP endpoint's operator routes; printed once (only its hash is stored); "
         "--identity (repeatable) restricts what POST /v1/send may send as",
         create},
        {"apikey list", "", "the API keys' names, creation times and identities", list},
        {"apikey revoke", "NAME", "delete an API key: requests with it get 401 at once", revoke},
    };
}

}  // namespace ses::ctl
