// config_test.cpp -- the key table, the loader's errors, defaults.
#include <catch2/catch.hpp>

#include "config/config.hpp"
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
