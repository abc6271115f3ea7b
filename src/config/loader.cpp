// loader.cpp -- TOML file -> checked, typed Config (see config.hpp).
#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <toml++/toml.h>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "config/syntax.hpp"
#include "util/strings.hpp"

namespace ses::config {

bool unsubscribe_url_ok(std::string_view url) {
    std::string l = str::lower(url);
    if (l.starts_with("https://")) return true;
    if (!l.starts_with("http://")) return false;
    std::string host = l.substr(7);
    host = host.substr(0, host.find('/'));
    return host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
}

namespace {

constexpr const char* kRedactedSecret = "<secret-not-shown>";

struct Checker {
    std::string source;
    std::vector<std::string> errors;

    void error(const toml::node& n, std::string_view path, std::string_view msg) { error_at(n.source(), path, msg); }

    void error_at(const toml::source_region& src, std::string_view path, std::string_view msg) {
        std::ostringstream o;
        o << source << ":" << src.begin.line << ":" << src.begin.column << ": ";
        // A key name is user input too: never echo it whole.
        if (path.size() > 80)
            o << path.substr(0, 80) << "...";
        else
            o << path;
        o << ": " << msg;
        errors.push_back(o.str());
    }

    static std::string describe(const toml::node& n) {
        std::ostringstream o;
        if (n.is_string())
            o << quoted(*n.value<std::string>());
        else if (n.is_table())
            o << "a table";
        else if (n.is_array())
            o << "an array";
        else
            n.visit([&](auto&& v) { o << v; });
        return o.str();
    }

    static bool has_section(std::string_view prefix) {
        for (auto& k : keys())
            if (k.path.size() > prefix.size() && k.path.substr(0, prefix.size()) == prefix &&
                k.path[prefix.size()] == '.')
                return true;
        return false;
    }

    void check_value(const KeyDef& k, const toml::node& n, std::string_view path) {
        auto bounds = [&](int64_t v, std::string_view unit) {
            if (v < k.min || v > k.max) {
                std::ostringstream o;
                o << "expected a value between " << k.min << unit << " and " << k.max << unit << ", got "
                  << describe(n);
                error(n, path, o.str());
            }
        };
        switch (k.type) {
            case Type::string:
                if (!n.is_string()) error(n, path, "expected a string, got " + describe(n));
                break;
            case Type::boolean:
                if (!n.is_boolean()) error(n, path, "expected true or false, got " + describe(n));
                break;
            case Type::integer:
                if (!n.is_integer())
                    error(n, path, "expected an integer, got " + describe(n));
                else
                    bounds(*n.value<int64_t>(), "");
                break;
            case Type::size: {
                std::optional<uint64_t> v;
                if (n.is_integer() && *n.value<int64_t>() >= 0) v = static_cast<uint64_t>(*n.value<int64_t>());
                if (n.is_string()) v = str::parse_size(*n.value<std::string>());
                if (!v || *v > static_cast<uint64_t>(INT64_MAX))
                    error(n, path, "expected a size such as \"10MB\" or \"512KB\", got " + describe(n));
                else
                    bounds(static_cast<int64_t>(*v), " bytes");
                break;
            }
            case Type::duration: {
                std::optional<int64_t> v;
                if (n.is_integer()) v = *n.value<int64_t>();
                if (n.is_string()) v = str::parse_duration(*n.value<std::string>());
                if (!v)
                    error(n, path, "expected a duration such as \"30s\", \"5m\" or \"24h\", got " + describe(n));
                else
                    bounds(*v, "s");
                break;
            }
            case Type::choice: {
                bool ok = false;
                if (n.is_string())
                    for (auto& c : str::split(k.choices, '|')) ok = ok || c == *n.value<std::string>();
                if (!ok) {
                    std::string choices(k.choices);
                    for (auto& c : choices)
                        if (c == '|') c = ',';
                    error(n, path, "expected one of " + choices + ", got " + describe(n));
                }
                break;
            }
            case Type::string_list: {
                auto* a = n.as_array();
                bool ok = a != nullptr;
                if (a)
                    for (auto& e : *a) ok = ok && e.is_string();
                if (!ok) error(n, path, "expected a list of strings, got " + describe(n));
                break;
            }
            case Type::table_list: {
                auto* a = n.as_array();
                if (!a) {
                    error(n, path, "expected an array of tables ([[" + std::string(path) + "]]), got " + describe(n));
                    break;
                }
                for (auto& e : *a) {
                    if (!e.is_table()) {
                        error(e, path, "expected a table, got " + describe(e));
                        continue;
                    }
                    check_table(*e.as_table(), std::string(k.path) + "[]", std::string(path));
                }
                break;
            }
        }
    }

    // `schema_prefix` is how keys are named in the table ("domain[]"),
    // `shown` what the user wrote ("domain").
    void check_table(const toml::table& t, const std::string& schema_prefix, const std::string& shown) {
        for (auto& [key, node] : t) {
            std::string kp =
                schema_prefix.empty() ? std::string(key.str()) : schema_prefix + "." + std::string(key.str());
            std::string sp = shown.empty() ? std::string(key.str()) : shown + "." + std::string(key.str());
            if (const KeyDef* k = find_key(kp)) {
                check_value(*k, node, sp);
            } else if (node.is_table() && has_section(kp)) {
                check_table(*node.as_table(), kp, sp);
            } else if (node.is_table()) {
                error(node, sp, "unknown key");
            } else {
                error_at(key.source(), sp, "unknown key");
            }
        }
        // Required keys of this table.
        for (auto& k : keys()) {
            if (!k.required) continue;
            std::string_view p = k.path;
            if (p.size() <= schema_prefix.size() + 1 || p.substr(0, schema_prefix.size()) != schema_prefix) continue;
            std::string_view rest = schema_prefix.empty() ? p : p.substr(schema_prefix.size() + 1);
            if (rest.find('.') != std::string_view::npos) continue;
            if (!t.contains(rest)) error(t, shown, "missing required key '" + std::string(rest) + "'");
        }
    }
};

const toml::table& defaults_for(std::string_view path) {
    // Parsed lazily per key; defaults are literal TOML text in the table.
    // Looked up once per key of every [[domain]]: a hash map keeps loading
    // linear in the number of domains.
    static thread_local std::unordered_map<std::string, toml::table> cache;
    std::string key(path);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    const KeyDef* k = find_key(path);
    std::string text = "v = " + std::string(k && !k->def.empty() ? k->def : "\"\"");
    return cache.emplace(std::move(key), toml::parse(text, std::string_view("<default>"))).first->second;
}

const toml::node& lookup(const toml::table& t, std::string_view local, std::string_view schema_path) {
    if (const toml::node* n = t.at_path(local).node()) return *n;
    return *defaults_for(schema_path)["v"].node();
}

std::string get_string(const toml::table& t, std::string_view local, std::string_view sp) {
    return lookup(t, local, sp).value_or(std::string());
}
int64_t get_int(const toml::table& t, std::string_view local, std::string_view sp) {
    return lookup(t, local, sp).value_or(int64_t{0});
}
bool get_bool(const toml::table& t, std::string_view local, std::string_view sp) {
    return lookup(t, local, sp).value_or(false);
}
uint64_t get_size(const toml::table& t, std::string_view local, std::string_view sp) {
    auto& n = lookup(t, local, sp);
    if (n.is_integer()) return static_cast<uint64_t>(*n.value<int64_t>());
    return str::parse_size(n.value_or(std::string())).value_or(0);
}
int64_t get_duration(const toml::table& t, std::string_view local, std::string_view sp) {
    auto& n = lookup(t, local, sp);
    if (n.is_integer()) return *n.value<int64_t>();
    return str::parse_duration(n.value_or(std::string())).value_or(0);
}
std::vector<std::string> get_list(const toml::table& t, std::string_view local, std::string_view sp) {
    std::vector<std::string> out;
    if (auto* a = lookup(t, local, sp).as_array())
        for (auto& e : *a) out.push_back(e.value_or(std::string()));
    return out;
}
template <Type T>
typename ValueOf<T>::type read(const toml::table& t, std::string_view local, std::string_view sp) {
    if constexpr (T == Type::string || T == Type::choice)
        return get_string(t, local, sp);
    else if constexpr (T == Type::integer)
        return get_int(t, local, sp);
    else if constexpr (T == Type::boolean)
        return get_bool(t, local, sp);
    else if constexpr (T == Type::size)
        return get_size(t, local, sp);
    else if constexpr (T == Type::duration)
        return get_duration(t, local, sp);
    else
        return get_list(t, local, sp);
}
template <Type T>
typename ValueOf<T>::type read(const toml::table& t, Key<T> k) {
    return read<T>(t, k.path, k.path);
}

// Fill in every default so --dump-config shows the effective configuration.
void add_defaults(toml::table& t, const std::string& schema_prefix) {
    for (auto& k : keys()) {
        std::string_view p = k.path;
        if (!schema_prefix.empty()) {
            if (p.size() <= schema_prefix.size() + 1 || p.substr(0, schema_prefix.size()) != schema_prefix ||
                p[schema_prefix.size()] != '.')
                continue;
            p = p.substr(schema_prefix.size() + 1);
        } else if (p.find("[]") != std::string_view::npos) {
            continue;
        }
        if (p.find("[]") != std::string_view::npos) continue;
        if (k.type == Type::table_list) {
            if (auto* a = t.at_path(p).as_array())
                for (auto& e : *a)
                    if (auto* et = e.as_table()) add_defaults(*et, std::string(k.path) + "[]");
            continue;
        }
        if (k.def.empty() || t.at_path(p).node()) continue;
        auto dot = p.rfind('.');
        toml::table* parent = &t;
        if (dot != std::string_view::npos) {
            std::string sect(p.substr(0, dot));
            if (!t.contains(sect)) t.insert(sect, toml::table{});
            parent = t[sect].as_table();
        }
        parent->insert(std::string(p.substr(dot == std::string_view::npos ? 0 : dot + 1)),
                       *defaults_for(k.path)["v"].node());
    }
}

Result<Config> build(toml::table& root, std::string_view source) {
    Checker c{std::string(source), {}};
    c.check_table(root, "", "");

    Config cfg;
    cfg.path = std::string(source);
    if (c.errors.empty()) {
        cfg.daemon.pidfile = read(root, key::daemon::pidfile);
        cfg.daemon.log_level = read(root, key::daemon::log_level);
        cfg.daemon.log_target = read(root, key::daemon::log_target);
        cfg.daemon.syslog_facility = read(root, key::daemon::syslog_facility);

        cfg.milter.socket = read(root, key::milter::socket);
        std::string mode = read(root, key::milter::socket_mode);
        char* end = nullptr;
        unsigned long m = std::strtoul(mode.c_str(), &end, 8);
        if (mode.empty() || *end || m > 07777)
            c.error(*lookup(root, "milter.socket_mode", "milter.socket_mode").as_string(), "milter.socket_mode",
                    "expected an octal mode such as \"0660\", got " + quoted(mode));
        cfg.milter.socket_mode = static_cast<unsigned>(m);
        cfg.milter.socket_owner = read(root, key::milter::socket_owner);
        cfg.milter.on_error = read(root, key::milter::on_error) == "accept" ? OnError::accept : OnError::tempfail;
        cfg.milter.max_message_size = read(root, key::milter::max_message_size);
        cfg.milter.timeout = read(root, key::milter::timeout);
        cfg.milter.backlog = static_cast<int>(read(root, key::milter::backlog));
        if (auto why = socket_problem(cfg.milter.socket); !why.empty())
            c.error(
                *lookup(root, "milter.socket", "milter.socket").as_string(), "milter.socket",
                "expected unix:PATH, inet:PORT@ADDR or inet6:PORT@ADDR, got " + quoted(cfg.milter.socket) + ": " + why);

        std::string canon = read(root, key::dkim::canonicalization);
        cfg.dkim.header_relaxed = canon.rfind("relaxed/", 0) == 0;
        cfg.dkim.body_relaxed = canon.size() > 8 && canon.substr(canon.size() - 7) == "relaxed";
        cfg.dkim.sign_headers = read(root, key::dkim::sign_headers);
        cfg.dkim.oversign_headers = read(root, key::dkim::oversign_headers);
        cfg.dkim.min_rsa_bits = static_cast<int>(read(root, key::dkim::min_rsa_bits));
        cfg.dkim.subdomains = read(root, key::dkim::subdomains);
        cfg.dkim.signer = read(root, key::dkim::signer);

        if (auto* doms = root["domain"].as_array()) {
            std::unordered_set<std::string> seen;  // a linear scan made 200 000 domains take a minute
            seen.reserve(doms->size());
            cfg.domains.reserve(doms->size());
            for (auto& e : *doms) {
                auto& dt = *e.as_table();
                DomainConf d;
                d.name = str::lower(get_string(dt, "name", "domain[].name"));
                if (auto why = dns_name_problem(d.name); !why.empty())
                    c.error(*dt["name"].node(), "domain.name",
                            "expected a domain name, got " + quoted(d.name) + ": " + why);
                else if (!seen.insert(d.name).second)
                    c.error(dt, "domain", "domain " + quoted(d.name) + " is declared twice");
                d.smtp_users = get_list(dt, "smtp_users", "domain[].smtp_users");
                d.outbound_ips = get_list(dt, "outbound_ips", "domain[].outbound_ips");
                d.require_verified = get_bool(dt, "require_verified", "domain[].require_verified");
                d.strict_alignment = get_string(dt, "alignment", "domain[].alignment") == "strict";
                d.one_recipient_per_message =
                    get_bool(dt, "one_recipient_per_message", "domain[].one_recipient_per_message");
                d.track_opens = get_bool(dt, "track_opens", "domain[].track_opens");
                d.track_clicks = get_bool(dt, "track_clicks", "domain[].track_clicks");
                d.unsubscribe = get_bool(dt, "unsubscribe", "domain[].unsubscribe");
                d.pool = get_string(dt, "pool", "domain[].pool");
                d.return_path_domain = str::lower(get_string(dt, "return_path_domain", "domain[].return_path_domain"));
                if (!d.return_path_domain.empty())
                    if (auto why = dns_name_problem(d.return_path_domain); !why.empty())
                        c.error(*dt["return_path_domain"].node(), "domain.return_path_domain",
                                "expected a domain name, got " + quoted(d.return_path_domain) + ": " + why);
                if (auto* ks = dt["dkim"].as_array()) {
                    for (auto& ke : *ks) {
                        auto& kt = *ke.as_table();
                        DkimKeyConf k{get_string(kt, "selector", "domain[].dkim[].selector"),
                                      get_string(kt, "key", "domain[].dkim[].key"),
                                      static_cast<int>(kt["key"].node() ? kt["key"].node()->source().begin.line
                                                                        : kt.source().begin.line)};
                        if (auto why = dns_name_problem(k.selector); !why.empty())
                            c.error(*kt["selector"].node(), "domain.dkim.selector",
                                    "expected a selector (DNS labels), got " + quoted(k.selector) + ": " + why);
                        for (auto& o : d.dkim)
                            if (o.selector == k.selector)
                                c.error(kt, "domain.dkim",
                                        "selector " + quoted(k.selector) + " is declared twice for " + quoted(d.name));
                        d.dkim.push_back(std::move(k));
                    }
                }
                cfg.domains.push_back(std::move(d));
            }
        }

        if (auto* hooks = root["webhook"].as_array()) {
            std::unordered_set<std::string> seen;
            for (auto& e : *hooks) {
                auto& ht = *e.as_table();
                WebhookConf w;
                w.url = get_string(ht, "url", "webhook[].url");
                w.id = get_string(ht, "name", "webhook[].name");
                if (w.id.empty()) w.id = w.url;
                w.secrets = get_list(ht, "secrets", "webhook[].secrets");
                w.events = get_list(ht, "events", "webhook[].events");
                w.format = get_string(ht, "format", "webhook[].format");
                w.timeout = get_duration(ht, "timeout", "webhook[].timeout");
                w.batch_max = get_int(ht, "batch_max", "webhook[].batch_max");
                if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0)
                    c.error(ht["url"].node() ? *ht["url"].node() : static_cast<const toml::node&>(ht), "webhook.url",
                            "expected an http:// or https:// URL, got " + quoted(w.url));
                const toml::node& sn =
                    ht["secrets"].node() ? *ht["secrets"].node() : static_cast<const toml::node&>(ht);
                if (w.secrets.empty() || w.secrets.size() > 2)
                    c.error(sn, "webhook.secrets", "expected one or two secrets (two during a rotation)");
                for (auto& sec : w.secrets)
                    if (sec.size() < 16) c.error(sn, "webhook.secrets", "a secret is shorter than 16 bytes");
                for (auto& ev : w.events)
                    if (std::find(std::begin(kWebhookEventNames), std::end(kWebhookEventNames), ev) ==
                        std::end(kWebhookEventNames))
                        c.error(*ht["events"].node(), "webhook.events",
                                "unknown event type " + quoted(ev) + " (docs/events.md lists them)");
                if (w.id.find('\0') != std::string::npos || !seen.insert(w.id).second)
                    c.error(ht, "webhook", "webhook " + quoted(w.id) + " is declared twice (give each a `name`)");
                cfg.webhooks.push_back(std::move(w));
            }
        }

        // Pools: names are transport-safe, addresses canonical (the routing
        // header and the Postfix map compare text) and each in one pool.
        if (auto* pools = root["pool"].as_array()) {
            std::unordered_set<std::string> names, addrs;
            for (auto& e : *pools) {
                auto& pt = *e.as_table();
                PoolConf p;
                p.name = get_string(pt, "name", "pool[].name");
                p.helo_name = str::lower(get_string(pt, "helo_name", "pool[].helo_name"));
                const toml::node& name_node =
                    pt["name"].node() ? *pt["name"].node() : static_cast<const toml::node&>(pt);
                bool name_ok = !p.name.empty() && p.name.size() <= 32;
                for (char ch : p.name)
                    name_ok = name_ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                                          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-');
                if (!name_ok)
                    c.error(name_node, "pool.name",
                            "expected 1 to 32 letters, digits, '_' or '-', got " + quoted(p.name));
                else if (!names.insert(p.name).second)
                    c.error(pt, "pool", "pool " + quoted(p.name) + " is declared twice");
                if (!p.helo_name.empty())
                    if (auto why = dns_name_problem(p.helo_name); !why.empty())
                        c.error(*pt["helo_name"].node(), "pool.helo_name",
                                "expected a host name, got " + quoted(p.helo_name) + ": " + why);
                const toml::node& an =
                    pt["addresses"].node() ? *pt["addresses"].node() : static_cast<const toml::node&>(pt);
                for (const std::string& a : get_list(pt, "addresses", "pool[].addresses")) {
                    unsigned char buf[16];
                    char text[INET6_ADDRSTRLEN];
                    int family = a.find(':') == std::string::npos ? AF_INET : AF_INET6;
                    if (inet_pton(family, a.c_str(), buf) != 1 || !inet_ntop(family, buf, text, sizeof text)) {
                        c.error(an, "pool.addresses", "expected an IPv4 or IPv6 address, got " + quoted(a));
                        continue;
                    }
                    if (!addrs.insert(text).second) {
                        c.error(an, "pool.addresses", "address " + quoted(text) + " is in more than one pool");
                        continue;
                    }
                    p.addresses.emplace_back(text);
                }
                if (p.addresses.empty()) c.error(an, "pool.addresses", "a pool needs at least one address");
                cfg.pools.push_back(std::move(p));
            }
        }
        {
            auto known = [&](const std::string& n) {
                return std::any_of(cfg.pools.begin(), cfg.pools.end(), [&](const PoolConf& p) { return p.name == n; });
            };
            cfg.default_pool = read(root, key::mta::default_pool);
            if (!cfg.default_pool.empty() && !known(cfg.default_pool))
                c.error(lookup(root, "mta.default_pool", "mta.default_pool"), "mta.default_pool",
                        "no [[pool]] is named " + quoted(cfg.default_pool));
            if (cfg.default_pool.empty() && !cfg.pools.empty()) cfg.default_pool = cfg.pools.front().name;
            // It goes into the map's FILTER actions as is.
            std::string hop = read(root, key::mta::pool_next_hop);
            if (hop.find_first_of(" \t\r\n/") != std::string::npos)
                c.error(lookup(root, "mta.pool_next_hop", "mta.pool_next_hop"), "mta.pool_next_hop",
                        "expected a Postfix next hop such as [relay.example.net]:25, got " + quoted(hop));
            if (auto* doms = root["domain"].as_array())
                for (size_t i = 0; i < doms->size() && i < cfg.domains.size(); ++i)
                    if (!cfg.domains[i].pool.empty() && !known(cfg.domains[i].pool))
                        c.error(*(*doms->get(i)->as_table())["pool"].node(), "domain.pool",
                                "no [[pool]] is named " + quoted(cfg.domains[i].pool));
        }

        // Tag and token keys: "ID:SECRET".  Tags carry the id, so ids are
        // explicit: positions would renumber every key when one is added or retired.
        auto read_keys = [&](const std::string& name, Key<Type::string_list> k, std::vector<ReturnPathKey>& out) {
            const toml::node& keys_node = lookup(root, name, name);
            for (const std::string& e : read(root, k)) {
                size_t colon = e.find(':');
                int id = 0;
                bool id_ok = colon != std::string::npos && colon > 0 && colon <= 2;
                for (size_t i = 0; id_ok && i < colon; ++i) {
                    id_ok = e[i] >= '0' && e[i] <= '9';
                    id = id * 10 + (e[i] - '0');
                }
                if (!id_ok || id < 1 || id > 15) {
                    c.error(keys_node, name, "expected \"ID:SECRET\" with ID 1..15");
                    continue;
                }
                std::string secret = e.substr(colon + 1);
                if (secret.size() < 16) {
                    c.error(keys_node, name, "the secret of key " + std::to_string(id) + " is shorter than 16 bytes");
                    continue;
                }
                bool dup = false;
                for (auto& o : out) dup = dup || o.id == id;
                if (dup) {
                    c.error(keys_node, name, "key " + std::to_string(id) + " is listed twice");
                    continue;
                }
                out.push_back({id, std::move(secret)});
            }
        };
        read_keys("return_path.keys", key::return_path::keys, cfg.return_path_keys);
        read_keys("tracking.keys", key::tracking::keys, cfg.tracking_keys);
        {
            // Tracking and unsubscribe need keys and a public URL; one-click
            // unsubscribe over plain http only to a loopback host (tests).
            bool tracks = false, unsub = false;
            for (auto& d : cfg.domains) {
                tracks = tracks || d.track_opens || d.track_clicks || d.unsubscribe;
                unsub = unsub || d.unsubscribe;
            }
            std::string url = read(root, key::http::public_url);
            const toml::node& url_node = lookup(root, "http.public_url", "http.public_url");
            if (tracks && cfg.tracking_keys.empty())
                c.error(root, "tracking.keys", "a domain tracks or has unsubscribe but [tracking] keys is empty");
            if (tracks && url.empty())
                c.error(root, "http.public_url", "a domain tracks or has unsubscribe but [http] public_url is empty");
            if (!url.empty()) {
                std::string l = str::lower(url);
                if (!l.starts_with("https://") && !l.starts_with("http://"))
                    c.error(url_node, "http.public_url", "expected an http(s) URL, got " + quoted(url));
                else if (unsub && !unsubscribe_url_ok(url))
                    c.error(url_node, "http.public_url",
                            "one-click unsubscribe needs an https public_url (plain http only for loopback hosts), "
                            "got " +
                                quoted(url));
                if (url.find_first_of(" \"<>'\t") != std::string::npos)
                    c.error(url_node, "http.public_url", "the URL has a space, quote or angle bracket");
            }
        }
        if (cfg.return_path_keys.empty())
            if (auto* doms = root["domain"].as_array())
                for (size_t i = 0; i < doms->size() && i < cfg.domains.size(); ++i)
                    if (!cfg.domains[i].return_path_domain.empty()) {
                        c.error(*(*doms->get(i)->as_table())["return_path_domain"].node(), "domain.return_path_domain",
                                "domain " + quoted(cfg.domains[i].name) +
                                    " has a return_path_domain but [return_path] keys is empty");
                        break;
                    }
    }
    if (!c.errors.empty()) {
        std::string all;
        for (auto& e : c.errors) all += (all.empty() ? "" : "\n") + e;
        return internal_error(all);
    }
    add_defaults(root, "");
    // --dump-config shows everything but the return-path secrets (the dump
    // ends up in tickets and chat); the placeholder still loads, so a dump
    // stays a valid configuration.
    toml::table shown = root;
    for (const char* section : {"return_path", "tracking"})
        if (auto* rp = shown[section].as_table())
            if (auto* keys = (*rp)["keys"].as_array())
                for (auto& n : *keys)
                    if (auto* v = n.as_string()) {
                        std::string text = v->get();
                        auto colon = text.find(':');
                        *v = (colon == std::string::npos ? std::string() : text.substr(0, colon + 1)) + kRedactedSecret;
                    }
    if (auto* hooks = shown["webhook"].as_array())
        for (auto& h : *hooks)
            if (auto* ht = h.as_table())
                if (auto* secs = (*ht)["secrets"].as_array())
                    for (auto& n : *secs)
                        if (auto* v = n.as_string()) *v = std::string(kRedactedSecret) + "-long-enough";
    std::ostringstream o;
    o << shown;
    cfg.effective_toml = o.str();
    // get() reads scalar keys only; the [[domain]] entries live on in
    // cfg.domains, and their nodes (about 1 KB each in toml++) need not.
    root.erase("domain");
    root.erase("webhook");
    root.erase("pool");
    cfg.tree = std::make_shared<const toml::table>(std::move(root));
    return cfg;
}

}  // namespace

std::string Config::dump() const { return effective_toml + "\n"; }

namespace {
const toml::table& tree_of(const Config& c, std::string_view path) {
    if (!find_key(path)) {
        std::fprintf(stderr, "sesmilter: internal error: configuration key %.*s is not declared\n",
                     static_cast<int>(path.size()), path.data());
        std::abort();
    }
    static const toml::table empty;
    return c.tree ? *static_cast<const toml::table*>(c.tree.get()) : empty;
}
}  // namespace

template <Type T>
typename ValueOf<T>::type Config::get(Key<T> key) const {
    return read<T>(tree_of(*this, key.path), key.path, key.path);
}
template std::string Config::get(Key<Type::string>) const;
template std::string Config::get(Key<Type::choice>) const;
template int64_t Config::get(Key<Type::integer>) const;
template bool Config::get(Key<Type::boolean>) const;
template uint64_t Config::get(Key<Type::size>) const;
template int64_t Config::get(Key<Type::duration>) const;
template std::vector<std::string> Config::get(Key<Type::string_list>) const;

Result<Config> load_string(std::string_view text, std::string_view source_name) {
    try {
        toml::table root = toml::parse(text, source_name);
        return build(root, source_name);
    } catch (const toml::parse_error& e) {
        std::ostringstream o;
        o << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
        return internal_error(o.str());
    }
}

Result<Config> load_file(const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return internal_error(path + ": cannot read: " + std::strerror(errno));
    try {
        toml::table root = toml::parse_file(path);
        return build(root, path);
    } catch (const toml::parse_error& e) {
        std::ostringstream o;
        o << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
        return internal_error(o.str());
    }
}

}  // namespace ses::config
