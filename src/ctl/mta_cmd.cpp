// mta_cmd.cpp -- `sesctl mta config [--check]`.
//
// Prints exactly the main.cf and master.cf lines and the regexp map that
// route the configured [[pool]]s (mta/pools.hpp), for the operator to paste
// (the end-to-end test uses them as printed).  With [mta] kind = "sendmail"
// it says why Sendmail cannot route pools.  --check compares them with the
// running Postfix (postconf -n / -M / -P and the map file), as
// `sesmilter --check-config` does, and exits 1 when they disagree.
#include "ctl/mta_cmd.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

#include "config/config.hpp"
#include "mta/pools.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

int config_cmd(Context& c) {
    bool sendmail = c.cfg.get(config::key::mta::kind) == "sendmail";
    mta::PostfixPoolConfig pc = mta::postfix_pool_config(c.cfg);
    std::vector<std::string> problems;
    bool checked = false;
    if (c.flag("check") && !sendmail && !c.cfg.pools.empty()) {
        auto r = mta::check_postfix_pools(c.cfg);
        if (!r) return fail(c, r.error().what);
        problems = *r;
        checked = true;
    }
    if (c.json) {
        json j{{"mta", sendmail ? "sendmail" : "postfix"}, {"pools", json::array()}};
        for (const auto& p : c.cfg.pools)
            j["pools"].push_back(json{{"name", p.name},
                                      {"addresses", p.addresses},
                                      {"helo_name", p.helo_name},
                                      {"default", p.name == c.cfg.default_pool}});
        j["header"] = std::string(mta::kPoolHeader);
        if (sendmail) {
            j["note"] = mta::sendmail_pools_note();
        } else {
            j["main_cf"] = pc.main_cf;
            j["master_cf"] = pc.master_cf;
            j["map"] = json{{"path", pc.map_path}, {"lines", pc.map}};
        }
        if (checked) j["problems"] = problems;
        c.out << j.dump(2) << "\n";
        return problems.empty() ? 0 : 1;
    }
    if (c.cfg.pools.empty()) {
        c.out << "# no [[pool]] configured: nothing to route\n";
        return 0;
    }
    if (sendmail) {
        c.out << "# " << mta::sendmail_pools_note() << "\n";
        return 0;
    }
    if (checked) {
        for (const auto& p : problems) c.out << "# differs: " << p << "\n";
        if (problems.empty()) c.out << "# the running Postfix matches\n";
        return problems.empty() ? 0 : 1;
    }
    c.out << mta::postfix_pool_text(pc);
    return 0;
}

}  // namespace

std::vector<Command> mta_commands() {
    return {
        {"mta config",
         "[--check]",
         "print the Postfix main.cf/master.cf lines and map that route the [[pool]]s; --check compares them "
         "with the running Postfix",
         config_cmd,
         {"check"}},
    };
}

}  // namespace ses::ctl
