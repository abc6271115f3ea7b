// config_test.cpp -- the key table, the loader's errors, defaults.
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <type_traits>

#include "config/config.hpp"
#include "config/keys.hpp"
#include "config/schema.hpp"

using namespace ses;

TEST_CASE("every key is documented and every choice key lists its choices", "[config]") {
    for (auto& k : config::keys()) {
        INFO(k.path);
        CHECK(k.doc.size() > 10);
        if (k.type == config::Type::choice) CHECK_FALSE(k.choices.empty());
        if (k.required) CHECK_FALSE(k.example.empty());
    }
    // The generated reference names every key.
    std::string ref = config::reference_markdown();
    for (auto& k : config::keys()) {
        if (k.path.find('.') == std::string_view::npos && k.type == config::Type::table_list) continue;  // a section
        std::string leaf(k.path.substr(k.path.rfind('.') == std::string_view::npos ? 0 : k.path.rfind('.') + 1));
        INFO(k.path);
        CHECK(ref.find("`" + leaf + "`") != std::string::npos);
    }
}

TEST_CASE("an empty file gives the documented defaults", "[config]") {
    auto c = config::load_string("", "t.toml");
    REQUIRE(c.ok());
    CHECK(c->milter.on_error == config::OnError::tempfail);
    CHECK(c->milter.max_message_size == 10000000u);
    CHECK(c->milter.socket == "unix:/run/sesmilter/milter.sock");
    CHECK(c->dkim.header_relaxed);
    CHECK(c->dkim.body_relaxed);
    CHECK(c->dkim.oversign_headers == std::vector<std::string>{"From"});
    CHECK(c->domains.empty());
}

TEST_CASE("the issue's example parses", "[config]") {
    auto c = config::load_string(R"(
[milter]
socket = "unix:/run/sesmilter/milter.sock"
on_error = "accept"
max_message_size = "64KB"
[[domain]]
name = "Example.COM"
dkim = [ { selector = "s1", key = "/k/s1.pem" },
         { selector = "e1", key = "/k/e1.pem" } ]
)",
                                 "t.toml");
    REQUIRE(c.ok());
    CHECK(c->milter.on_error == config::OnError::accept);
    CHECK(c->milter.max_message_size == 64000u);
    REQUIRE(c->domains.size() == 1);
    CHECK(c->domains[0].name == "example.com");
    REQUIRE(c->domains[0].dkim.size() == 2);
    CHECK(c->domains[0].dkim[1].selector == "e1");
    CHECK(c->domains[0].dkim[1].key == "/k/e1.pem");
}

namespace {
std::string error_of(const std::string& text) {
    auto c = config::load_string(text, "t.toml");
    REQUIRE_FALSE(c.ok());
    return c.error().what;
}
}  // namespace

TEST_CASE("errors name file, line, key and what was expected", "[config]") {
    CHECK(error_of("[milter]\nsocket = \"unix:/x\"\nsockett = 1\n") == "t.toml:3:1: milter.sockett: unknown key");
    CHECK(error_of("[milter]\non_error = \"drop\"\n") ==
          "t.toml:2:12: milter.on_error: expected one of tempfail,accept, got \"drop\"");
    CHECK(error_of("[milter]\nmax_message_size = \"ten\"\n")
              .find("t.toml:2:20: milter.max_message_size: expected a size") == 0);
    CHECK(error_of("[milter]\nmax_message_size = \"5GB\"\n").find("expected a value between") != std::string::npos);
    CHECK(error_of("[milter]\nbacklog = \"x\"\n") == "t.toml:2:11: milter.backlog: expected an integer, got \"x\"");
    CHECK(error_of("[milter]\nsocket = \"/tmp/x\"\n").find("milter.socket: expected unix:PATH") != std::string::npos);
    CHECK(error_of("[nosuch]\na = 1\n") == "t.toml:1:1: nosuch: unknown key");
    CHECK(error_of("[[domain]]\ndkim = []\n").find("domain: missing required key 'name'") != std::string::npos);
    CHECK(error_of("[[domain]]\nname = \"a.com\"\n[[domain]]\nname = \"A.com\"\n").find("declared twice") !=
          std::string::npos);
    CHECK(error_of("[[domain]]\nname = \"a.com\"\ndkim = [ { selector = \"s\" } ]\n")
              .find("missing required key 'key'") != std::string::npos);
    // A TOML syntax error keeps the parser's position.
    CHECK(error_of("[milter\n").find("t.toml:1:") == 0);
}

TEST_CASE("several errors are all reported", "[config]") {
    std::string e = error_of("[milter]\nfoo = 1\nbar = 2\n");
    CHECK(e.find("milter.foo") != std::string::npos);
    CHECK(e.find("milter.bar") != std::string::npos);
}

TEST_CASE("dump shows defaults next to file values", "[config]") {
    auto c = config::load_string("[milter]\non_error = \"accept\"\n", "t.toml");
    REQUIRE(c.ok());
    std::string d = c->dump();
    CHECK(d.find("on_error = 'accept'") != std::string::npos);
    CHECK(d.find("max_message_size = '10MB'") != std::string::npos);
    // And the dump is itself a valid configuration.
    CHECK(config::load_string(d, "dump.toml").ok());
}

TEST_CASE("the generated example is a valid configuration", "[config]") {
    auto c = config::load_string(config::example_toml(), "example.toml");
    REQUIRE(c.ok());
    CHECK(c->domains.size() == 1);
}

TEST_CASE("every key constant is a declared key of the same type, and every scalar key has one", "[config]") {
    std::set<std::string_view> constants;
    for (auto& c : config::key_constants()) {
        INFO(c.path);
        const config::KeyDef* k = config::find_key(c.path);
        REQUIRE(k != nullptr);
        CHECK(k->type == c.type);
        CHECK(constants.insert(c.path).second);  // listed once
    }
    for (auto& k : config::keys()) {
        if (k.type == config::Type::table_list || k.path.find("[]") != std::string_view::npos) continue;
        INFO(k.path);
        CHECK(constants.count(k.path) == 1);
    }
}

TEST_CASE("typed keys read the file's value or the declared default", "[config]") {
    auto c = config::load_string(
        "[warmup]\ntime_zone = \"+02:00\"\nrelease_interval = \"2m\"\n"
        "[policy]\nmemory_limit = \"32MiB\"\n[dns]\nforwarders = [\"127.0.0.1@5353\"]\n",
        "t.toml");
    REQUIRE(c.ok());
    using namespace config::key;
    CHECK(c->get(warmup::time_zone) == "+02:00");
    CHECK(c->get(warmup::release_interval) == 120);
    CHECK(c->get(warmup::hold_duration) == 86400);  // default "24h"
    CHECK(c->get(policy::memory_limit) == 32u << 20);
    CHECK(c->get(warmup::release_batch) == 200);
    CHECK_FALSE(c->get(warmup::enabled));
    CHECK(c->get(templates::enabled));
    CHECK(c->get(store::sync) == "periodic");
    CHECK(c->get(dns::forwarders) == std::vector<std::string>{"127.0.0.1@5353"});
    static_assert(std::is_same_v<decltype(c->get(milter::max_message_size)), uint64_t>);
    static_assert(std::is_same_v<decltype(c->get(outbound::networks)), std::vector<std::string>>);
}

TEST_CASE("milter.socket: ports 1..65535 and the socket syntax", "[config]") {
    auto socket_error = [](const std::string& spec) {
        auto c = config::load_string("[milter]\nsocket = \"" + spec + "\"\n", "t.toml");
        return c.ok() ? std::string() : c.error().what;
    };
    for (const char* good : {"unix:/run/s.sock", "local:/x", "inet:8891@127.0.0.1", "inet:8891", "inet:1@localhost",
                             "inet:65535@127.0.0.1", "inet6:8891@::1", "inet6:8891@[::1]"}) {
        INFO(good);
        CHECK(socket_error(good).empty());
    }
    CHECK(socket_error("inet:99999@127.0.0.1").find("port \"99999\" is not between 1 and 65535") != std::string::npos);
    CHECK(socket_error("inet:65536@127.0.0.1").find("not between 1 and 65535") != std::string::npos);
    CHECK(socket_error("inet:0@127.0.0.1").find("not between 1 and 65535") != std::string::npos);
    CHECK(socket_error("inet:x@127.0.0.1").find("is not a number") != std::string::npos);
    CHECK(socket_error("inet:@127.0.0.1").find("no port") != std::string::npos);
    CHECK(socket_error("inet:25@").find("no address") != std::string::npos);
    CHECK(socket_error("inet:25@127.0.0.256").find("not an IPv4 address") != std::string::npos);
    CHECK(socket_error("inet:25@a b").find("neither an IPv4 address nor a host name") != std::string::npos);
    CHECK(socket_error("unix:relative.sock").find("must be absolute") != std::string::npos);
    CHECK(socket_error("tcp:25").find("unknown scheme") != std::string::npos);
    CHECK(socket_error("inet:99999@127.0.0.1").find("t.toml:2:10: milter.socket:") == 0);
}

TEST_CASE("domain names and selectors must be DNS names", "[config]") {
    auto load = [](const std::string& domain, const std::string& selector) {
        return config::load_string(
            "[[domain]]\nname = \"" + domain + "\"\ndkim = [ { selector = \"" + selector + "\", key = \"/k.pem\" } ]\n",
            "t.toml");
    };
    CHECK(load("example.com", "s1").ok());
    CHECK(load("mail-1.Example.co.uk", "2024-01.rsa").ok());
    CHECK(load("xn--bcher-kva.example", "s1").ok());
    auto e = load("exa mple..com", "s1");
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().what.find("t.toml:2:8: domain.name: expected a domain name, got \"exa mple..com\"") == 0);
    CHECK_FALSE(load("example..com", "s1").ok());
    CHECK_FALSE(load("-example.com", "s1").ok());
    CHECK_FALSE(load("example.com.", "s1").ok());
    CHECK_FALSE(load("user@example.com", "s1").ok());
    CHECK_FALSE(load(std::string(64, 'a') + ".com", "s1").ok());
    CHECK_FALSE(load("b\xc3\xbc"
                     "cher.example",
                     "s1")
                    .ok());
    auto s = load("example.com", "s1; x=y");
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().what.find("domain.dkim.selector: expected a selector (DNS labels), got \"s1; x=y\"") !=
          std::string::npos);
    CHECK_FALSE(load("example.com", "").ok());
    CHECK_FALSE(load("example.com", "s1.").ok());
    CHECK_FALSE(load("example.com", "s_1").ok());
}

TEST_CASE("an error echoes at most 80 bytes of a value", "[config]") {
    std::string huge(50 * 1000 * 1000, 'x');
    auto c = config::load_string("[milter]\non_error = \"" + huge + "\"\n", "t.toml");
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().what.size() < 300);
    CHECK(c.error().what.find("got \"" + std::string(80, 'x') + "\"... (50000000 bytes)") != std::string::npos);
    auto k = config::load_string("[milter]\n" + std::string(100000, 'k') + " = 1\n", "t.toml");
    REQUIRE_FALSE(k.ok());
    CHECK(k.error().what.size() < 300);
    auto ctl = config::load_string("[daemon]\nlog_level = \"a\\nforged: line\"\n", "t.toml");
    REQUIRE_FALSE(ctl.ok());
    CHECK(ctl.error().what.find('\n') == std::string::npos);
    CHECK(ctl.error().what.find("\"a\\x0aforged: line\"") != std::string::npos);
}

// Not timed (a shared CI machine makes wall-clock limits flaky); the load
// time of a large config is a bench/ figure.
TEST_CASE("200 000 domains load, and a duplicate at the end of the list is found", "[config][slow]") {
    std::string text;
    const int n = 200000;
    text.reserve(n * 100);
    for (int i = 0; i < n; ++i)
        text += "[[domain]]\nname = \"d" + std::to_string(i) +
                ".example\"\ndkim = [ { selector = \"s1\", key = \"/k/d" + std::to_string(i) + ".pem\" } ]\n";
    auto c = config::load_string(text, "big.toml");
    REQUIRE(c.ok());
    CHECK(c->domains.size() == static_cast<size_t>(n));
    CHECK(c->domains.back().name == "d199999.example");
    // And the duplicate is still found, at the end of a long list.
    auto dup = config::load_string(text + "[[domain]]\nname = \"D7.example\"\n", "big.toml");
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().what.find("domain \"d7.example\" is declared twice") != std::string::npos);
}

TEST_CASE("--dump-config does not show the return-path secrets, and the dump still loads") {
    auto cfg = config::load_string(
        "[return_path]\n"
        "keys = [\"2:a-new-secret-of-16-bytes-or-more\", \"1:the-old-secret-kept-for-bounces\"]\n"
        "[[domain]]\nname = \"example.com\"\nreturn_path_domain = \"bounce.example.com\"\n",
        "rp.toml");
    REQUIRE(cfg);
    std::string dump = cfg->dump();
    CHECK(dump.find("a-new-secret") == std::string::npos);
    CHECK(dump.find("the-old-secret") == std::string::npos);
    CHECK(dump.find("2:<secret-not-shown>") != std::string::npos);
    CHECK(dump.find("1:<secret-not-shown>") != std::string::npos);
    // The secrets the daemon uses are the real ones.
    REQUIRE(cfg->return_path_keys.size() == 2);
    CHECK(cfg->return_path_keys[0].secret == "a-new-secret-of-16-bytes-or-more");
    auto again = config::load_string(dump, "dump.toml");
    REQUIRE(again);
    CHECK(again->dump() == dump);
}
