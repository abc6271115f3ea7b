// pools.cpp -- see pools.hpp.
#include "mta/pools.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "mta/process.hpp"
#include "mta/settings.hpp"
#include "util/strings.hpp"

namespace ses::mta {
namespace {

bool is_v6(std::string_view a) { return a.find(':') != std::string_view::npos; }

std::string regexp_quote(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '.' || c == '/' || c == '\\' || c == '[' || c == ']' || c == '(' || c == ')' || c == '*' || c == '+' ||
            c == '?' || c == '{' || c == '}' || c == '|' || c == '^' || c == '$')
            out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    for (std::string l; std::getline(in, l);) {
        std::string t(str::trim(l));
        if (!t.empty()) out.push_back(t);
    }
    return out;
}

std::vector<std::string> words(std::string_view line) {
    std::vector<std::string> out;
    std::istringstream in{std::string(line)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// The -o settings of one address's transport, in the order printed.
std::vector<std::pair<std::string, std::string>> transport_settings(const config::PoolConf& p,
                                                                    const std::string& address) {
    std::vector<std::pair<std::string, std::string>> o;
    if (is_v6(address)) {
        o.emplace_back("smtp_bind_address6", address);
    } else {
        o.emplace_back("smtp_bind_address", address);
    }
    o.emplace_back("smtp_bind_address_enforce", "yes");
    o.emplace_back("inet_protocols", is_v6(address) ? "ipv6" : "ipv4");
    if (!p.helo_name.empty()) o.emplace_back("smtp_helo_name", p.helo_name);
    return o;
}

}  // namespace

std::string pool_transport(std::string_view address) {
    std::string out = "ses_";
    for (char c : address) out.push_back(c == '.' || c == ':' ? '_' : c);
    return out;
}

std::string pool_header_value(std::string_view pool, std::string_view address) {
    return std::string(pool) + " " + std::string(address);
}

std::string pool_map_path(const config::Config& cfg) {
    std::string p = cfg.get(config::key::mta::pool_map);
    if (!p.empty()) return p;
    std::string dir = cfg.get(config::key::mta::config_directory);
    if (dir.empty()) dir = "/etc/postfix";
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir + "/sesmilter_pools.regexp";
}

PostfixPoolConfig postfix_pool_config(const config::Config& cfg) {
    return postfix_pool_config(cfg.pools, pool_map_path(cfg), cfg.get(config::key::mta::pool_next_hop));
}

PostfixPoolConfig postfix_pool_config(const std::vector<config::PoolConf>& pools, const std::string& map_path,
                                      const std::string& next_hop) {
    PostfixPoolConfig c;
    c.map_path = map_path;
    if (pools.empty()) return c;
    c.main_cf.push_back("milter_header_checks = regexp:" + map_path);
    for (const auto& p : pools)
        for (const auto& a : p.addresses) {
            std::string t = pool_transport(a);
            c.master_cf.push_back(t + " unix - - n - - smtp");
            for (const auto& [k, v] : transport_settings(p, a)) c.master_cf.push_back("  -o " + k + "=" + v);
            c.map.push_back("/^" + std::string(kPoolHeader) + ":[[:space:]]*" + regexp_quote(p.name) + " " +
                            regexp_quote(a) + "[[:space:]]*$/ FILTER " + t + ":" + next_hop);
        }
    return c;
}

std::string postfix_pool_text(const PostfixPoolConfig& c) {
    std::string out = "# main.cf\n";
    for (const auto& l : c.main_cf) out += l + "\n";
    out += "\n# master.cf\n";
    for (const auto& l : c.master_cf) out += l + "\n";
    out += "\n# " + c.map_path + "\n";
    for (const auto& l : c.map) out += l + "\n";
    return out;
}

std::string sendmail_pools_note() {
    return "Sendmail: not possible. A milter cannot choose the transport or the client address of a delivery, "
           "and Sendmail's client address (ClientPortOptions Addr=) is one per instance, not per message. "
           "Run one Sendmail instance per address (each with its own ClientPortOptions=Addr=ADDRESS and "
           "queue) and route to them by sender outside sesmilter; sesmilter's pools need Postfix.";
}

std::vector<std::string> compare_postfix_pools(const PostfixPoolConfig& want, std::string_view postconf_n,
                                               std::string_view postconf_m, std::string_view postconf_p,
                                               const std::optional<std::string>& map) {
    std::vector<std::string> out;
    // main.cf: our table among milter_header_checks' tables.
    std::string table = "regexp:" + want.map_path;
    bool found = false;
    for (const auto& l : lines_of(postconf_n)) {
        if (l.rfind("milter_header_checks", 0) != 0) continue;
        auto eq = l.find('=');
        if (eq == std::string::npos || str::trim(l.substr(0, eq)) != "milter_header_checks") continue;
        for (auto& w : words(l.substr(eq + 1))) {
            while (!w.empty() && w.back() == ',') w.pop_back();
            found = found || w == table;
        }
    }
    if (!want.main_cf.empty() && !found) out.push_back("main.cf: milter_header_checks does not list " + table);
    // A FILTER with an empty next hop ignores relayhost.
    bool empty_hop = !want.map.empty() && want.map.front().back() == ':';
    for (const auto& l : lines_of(postconf_n))
        if (empty_hop && l.rfind("relayhost", 0) == 0) {
            auto eq = l.find('=');
            if (eq != std::string::npos && str::trim(l.substr(0, eq)) == "relayhost" &&
                !str::trim(l.substr(eq + 1)).empty())
                out.push_back(
                    "main.cf: relayhost is set, but pool mail goes to the recipient domain's MX ([mta] "
                    "pool_next_hop is empty)");
        }

    // master.cf: one smtp service per address, with its settings.
    std::vector<std::vector<std::string>> services;
    for (const auto& l : lines_of(postconf_m)) services.push_back(words(l));
    std::vector<std::string> params = lines_of(postconf_p);
    std::vector<std::string> wanted_services;
    std::string service;
    for (const auto& l : want.master_cf) {
        if (l.rfind("  -o ", 0) == 0) {
            std::string kv = l.substr(5);
            auto eq = kv.find('=');
            std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
            std::string prefix = service + "/unix/" + name + " =";
            std::string have;
            bool has = false;
            for (const auto& p : params)
                if (p.rfind(prefix, 0) == 0) {
                    has = true;
                    have = std::string(str::trim(p.substr(prefix.size())));
                }
            if (!has)
                out.push_back("master.cf: " + service + " lacks -o " + name + "=" + value);
            else if (have != value)
                out.push_back("master.cf: " + service + " has -o " + name + "=" + have + ", expected " + value);
            continue;
        }
        service = words(l).front();
        wanted_services.push_back(service);
        bool ok = false;
        for (const auto& w : services)
            ok = ok || (w.size() >= 8 && w[0] == service && w[1] == "unix" && w[7] == "smtp");
        if (!ok) out.push_back("master.cf: no service \"" + service + " unix ... smtp\"");
    }
    for (const auto& w : services)
        if (!w.empty() && w[0].rfind("ses_", 0) == 0 &&
            std::find(wanted_services.begin(), wanted_services.end(), w[0]) == wanted_services.end())
            out.push_back("master.cf: service " + w[0] + " is not a configured pool address");

    // The map: every line, and no route to an address no longer configured.
    if (!want.map.empty()) {
        if (!map) {
            out.push_back(want.map_path + ": cannot be read");
        } else {
            std::vector<std::string> have = lines_of(*map);
            for (const auto& l : want.map)
                if (std::find(have.begin(), have.end(), l) == have.end())
                    out.push_back(want.map_path + ": missing \"" + l + "\"");
            for (const auto& l : have)
                if (l.find("FILTER ses_") != std::string::npos &&
                    std::find(want.map.begin(), want.map.end(), l) == want.map.end())
                    out.push_back(want.map_path + ": \"" + l + "\" routes to no configured pool address");
        }
    }
    return out;
}

Result<std::vector<std::string>> check_postfix_pools(const config::Config& cfg) {
    Settings s = settings_from(cfg);
    auto run = [&](const char* opt) -> Result<std::string> {
        std::vector<std::string> argv = s.command_prefix;
        argv.insert(argv.end(), {s.postconf, "-c", s.config_directory, opt});
        auto r = run_process(argv, s.command_timeout);
        if (!r) return r.error();
        if (r->timed_out || r->exit_code != 0) return internal_error(command_line(argv) + ": failed: " + r->output);
        return r->output;
    };
    auto n = run("-n");
    if (!n) return n.error();
    auto m = run("-M");
    if (!m) return m.error();
    auto p = run("-P");
    if (!p) return p.error();
    PostfixPoolConfig want = postfix_pool_config(cfg);
    std::optional<std::string> map;
    if (std::ifstream in{want.map_path}) {
        std::ostringstream o;
        o << in.rdbuf();
        map = o.str();
    }
    return compare_postfix_pools(want, *n, *m, *p, map);
}

}  // namespace ses::mta
