// pools_test.cpp -- sending pools (docs/pools.md): [[pool]] parsing, the
// pool of an identity, the address chosen and charged (routing.cpp), the
// policy's overflow, the printed Postfix configuration and its comparison
// with postconf's output (mta/pools.cpp).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.hpp"
#include "mta/pools.hpp"
#include "util/clock.hpp"
#include "warmup/engine.hpp"
#include "warmup/routing.hpp"

using namespace ses;

namespace {

const char* kPools = R"(
[[domain]]
name = "example.com"
pool = "dedicated"

[[domain]]
name = "example.net"

[[pool]]
name = "shared"
addresses = ["127.0.0.2", "127.0.0.5"]

[[pool]]
name = "dedicated"
addresses = ["127.0.0.3", "2001:DB8:0::1"]
helo_name = "Mail.Example.com"
)";

config::Config load(const std::string& text) {
    auto c = config::load_string(text, "t.toml");
    if (!c) FAIL(c.error().what);
    return *c;
}

std::string load_error(const std::string& text) {
    auto c = config::load_string(text, "t.toml");
    REQUIRE_FALSE(c);
    return c.error().what;
}

std::string repo_file(const std::string& rel) {
    auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
    std::ifstream in(root / rel);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-pools-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// The dedicated addresses may send 2 a day each, everything else plenty.
const char* kPolicy = R"(
ses.on("daily_limit", function(identity)
  if identity.pool == "dedicated" then return 2 end
  return 1000
end)
ses.on("on_over_quota", function(message, identity)
  if identity.pool == "dedicated" then return { action = "overflow", pool = OVERFLOW_TO } end
  return { action = "hold" }
end)
)";

struct Fx {
    TempDir dir;
    config::Config cfg;
    std::unique_ptr<warmup::Engine> engine;
    int qid = 1;

    explicit Fx(const std::string& overflow_to, const std::string& limits_text = kPolicy) : cfg(load(kPools)) {
        clock::set_override(*clock::parse_rfc3339("2030-01-07T10:00:00Z"));
        warmup::Settings s;
        for (const auto& p : cfg.pools)
            for (const auto& a : p.addresses) s.pool_of[a] = p.name;
        store::Options so;
        so.path = dir.path.string();
        auto env = store::Env::open(so);
        REQUIRE(env);
        std::string script = "local OVERFLOW_TO = \"" + overflow_to + "\"\n" + limits_text;
        auto pol = policy::Policy::from_source(script, "t.lua", policy::Settings{}, warmup::hook_defs());
        REQUIRE(pol);
        auto e = warmup::Engine::open(s, *env, *pol);
        REQUIRE(e);
        engine = std::move(*e);
    }
    ~Fx() { clock::set_override(std::nullopt); }

    warmup::Routed send(const std::string& rcpt = "a@example.org") {
        mail::Message m;
        m.env.mail_from = "news@example.com";
        m.env.rcpts = {rcpt};
        char q[16];
        std::snprintf(q, sizeof q, "QID%05d", qid++);
        m.env.queue_id = q;
        auto r = warmup::admit_routed(*engine, m, "example.com", *warmup::pool_for(cfg, "example.com"), cfg.pools);
        REQUIRE(r);
        return *r;
    }
    uint64_t sent(const std::string& identity) {
        auto st = engine->status(warmup::parse_identity(identity));
        return st ? st->counters.sent : 0;  // never seen: no record yet
    }
};

}  // namespace

TEST_CASE("[[pool]] entries are parsed, canonical and checked", "[pools]") {
    auto c = load(kPools);
    REQUIRE(c.pools.size() == 2);
    CHECK(c.pools[1].name == "dedicated");
    CHECK(c.pools[1].addresses == std::vector<std::string>{"127.0.0.3", "2001:db8::1"});
    CHECK(c.pools[1].helo_name == "mail.example.com");
    CHECK(c.default_pool == "shared");  // the first, without [mta] default_pool
    CHECK(c.domains[0].pool == "dedicated");

    CHECK_THAT(load_error(std::string(kPools) + "[[pool]]\nname = \"x\"\naddresses = [\"127.0.0.3\"]\n"),
               Catch::Contains("\"127.0.0.3\" is in more than one pool"));
    CHECK_THAT(load_error("[[pool]]\nname = \"a b\"\naddresses = [\"127.0.0.9\"]\n"),
               Catch::Contains("expected 1 to 32 letters"));
    CHECK_THAT(load_error("[[pool]]\nname = \"p\"\naddresses = [\"300.1.1.1\"]\n"),
               Catch::Contains("expected an IPv4 or IPv6 address"));
    CHECK_THAT(load_error("[[pool]]\nname = \"p\"\naddresses = []\n"), Catch::Contains("at least one address"));
    CHECK_THAT(load_error("[[pool]]\nname = \"p\"\naddresses = [\"127.0.0.9\"]\n[[pool]]\nname = \"p\"\n"
                          "addresses = [\"127.0.0.8\"]\n"),
               Catch::Contains("pool \"p\" is declared twice"));
    CHECK_THAT(load_error("[[domain]]\nname = \"a.com\"\npool = \"nope\"\n"), Catch::Contains("no [[pool]] is named"));
    CHECK_THAT(load_error(std::string(kPools) + "[mta]\ndefault_pool = \"nope\"\n"),
               Catch::Contains("no [[pool]] is named \"nope\""));
    CHECK_THAT(load_error(std::string(kPools) + "[mta]\npool_next_hop = \"a\\nb\"\n"),
               Catch::Contains("mta.pool_next_hop"));
}

TEST_CASE("the pool of an identity: its own, else the default", "[pools]") {
    auto c = load(std::string(kPools) + "[mta]\ndefault_pool = \"dedicated\"\n");
    CHECK(warmup::pool_for(c, "example.com")->name == "dedicated");
    CHECK(warmup::pool_for(c, "example.net")->name == "dedicated");
    auto d = load(kPools);
    CHECK(warmup::pool_for(d, "example.net")->name == "shared");
    CHECK(warmup::pool_for(d, "unknown.org")->name == "shared");
    CHECK(warmup::pool_for(load(""), "example.com") == nullptr);
}

TEST_CASE("a pool's addresses fill in order, then the policy's overflow pool", "[pools]") {
    Fx fx("shared");
    std::vector<std::string> got;
    for (int i = 0; i < 7; ++i) {
        auto r = fx.send();
        CHECK(r.decision.action == warmup::Decision::Action::accept);
        got.push_back(r.route.pool + " " + r.route.address + " " + r.route.overflow_from);
    }
    CHECK(got == std::vector<std::string>{"dedicated 127.0.0.3 ", "dedicated 127.0.0.3 ", "dedicated 2001:db8::1 ",
                                          "dedicated 2001:db8::1 ", "shared 127.0.0.2 dedicated",
                                          "shared 127.0.0.2 dedicated", "shared 127.0.0.2 dedicated"});
    // Charged to the address each left from, and to the domain.
    CHECK(fx.sent("ip:127.0.0.3") == 2);
    CHECK(fx.sent("ip:2001:db8::1") == 2);
    CHECK(fx.sent("ip:127.0.0.2") == 3);
    CHECK(fx.sent("ip:127.0.0.5") == 0);
    CHECK(fx.sent("example.com") == 7);
}

TEST_CASE("an overflow that cannot be followed holds on the pool's last address", "[pools]") {
    for (const char* target : {"nope", "dedicated"}) {
        Fx fx(target);
        for (int i = 0; i < 4; ++i) fx.send();
        auto r = fx.send();
        CHECK(r.decision.action == warmup::Decision::Action::hold);
        CHECK(r.route.pool == "dedicated");
        CHECK(r.route.address == "2001:db8::1");
        CHECK_THAT(r.decision.reason, Catch::Contains("not possible"));
        auto held = fx.engine->held();
        REQUIRE(held);
        REQUIRE(held->size() == 1);
        CHECK(held->front().identities.back().str() == "ip:2001:db8::1");
        CHECK(fx.sent("ip:127.0.0.2") == 0);
    }
}

TEST_CASE("without on_over_quota a full dedicated pool holds (the shipped rule)", "[pools]") {
    Fx fx("shared", R"(ses.on("daily_limit", function(identity)
  if identity.pool == "dedicated" then return 1 end
  return 1000
end))");
    CHECK(fx.send().decision.action == warmup::Decision::Action::accept);
    CHECK(fx.send().decision.action == warmup::Decision::Action::accept);
    auto r = fx.send();
    CHECK(r.decision.action == warmup::Decision::Action::hold);
    CHECK(r.route.address == "2001:db8::1");
    CHECK(fx.sent("ip:127.0.0.2") == 0);
}

TEST_CASE("on_over_quota's overflow needs a pool name", "[pools]") {
    auto bad = warmup::over_quota_from(
        [] {
            policy::Value t = policy::Value::table();
            t.set("action", policy::Value::string("overflow"));
            return t;
        }(),
        86400);
    CHECK_FALSE(bad);
    policy::Value t = policy::Value::table();
    t.set("action", policy::Value::string("overflow"));
    t.set("pool", policy::Value::string("shared"));
    auto ok = warmup::over_quota_from(t, 86400);
    REQUIRE(ok);
    CHECK(ok->action == warmup::Action::overflow);
    CHECK(ok->pool == "shared");
}

TEST_CASE("sesctl mta config: the Postfix lines for the pools", "[pools]") {
    auto c = load(kPools);
    auto pc = mta::postfix_pool_config(c.pools, "/etc/postfix/sesmilter_pools.regexp", "[relay.example.net]:25");
    CHECK(pc.main_cf == std::vector<std::string>{"milter_header_checks = regexp:/etc/postfix/sesmilter_pools.regexp"});
    CHECK(pc.master_cf == std::vector<std::string>{
                              "ses_127_0_0_2 unix - - n - - smtp",
                              "  -o smtp_bind_address=127.0.0.2",
                              "  -o smtp_bind_address_enforce=yes",
                              "  -o inet_protocols=ipv4",
                              "ses_127_0_0_5 unix - - n - - smtp",
                              "  -o smtp_bind_address=127.0.0.5",
                              "  -o smtp_bind_address_enforce=yes",
                              "  -o inet_protocols=ipv4",
                              "ses_127_0_0_3 unix - - n - - smtp",
                              "  -o smtp_bind_address=127.0.0.3",
                              "  -o smtp_bind_address_enforce=yes",
                              "  -o inet_protocols=ipv4",
                              "  -o smtp_helo_name=mail.example.com",
                              "ses_2001_db8__1 unix - - n - - smtp",
                              "  -o smtp_bind_address6=2001:db8::1",
                              "  -o smtp_bind_address_enforce=yes",
                              "  -o inet_protocols=ipv6",
                              "  -o smtp_helo_name=mail.example.com",
                          });
    REQUIRE(pc.map.size() == 4);
    CHECK(pc.map[0] == R"(/^X-SES-Pool:[[:space:]]*shared 127\.0\.0\.2[[:space:]]*$/ FILTER ses_127_0_0_2:)"
                       "[relay.example.net]:25");
    CHECK(pc.map[3] == R"(/^X-SES-Pool:[[:space:]]*dedicated 2001:db8::1[[:space:]]*$/ FILTER ses_2001_db8__1:)"
                       "[relay.example.net]:25");
    CHECK(mta::pool_header_value("dedicated", "127.0.0.3") == "dedicated 127.0.0.3");
    CHECK(mta::pool_map_path(load("[mta]\nconfig_directory = \"/srv/pf/\"\n")) == "/srv/pf/sesmilter_pools.regexp");
    CHECK(mta::postfix_pool_config(load("")).main_cf.empty());
}

TEST_CASE("the printed configuration compared with postconf's", "[pools]") {
    config::PoolConf p{"dedicated", {"127.0.0.3"}, "mail.example.com"};
    auto want = mta::postfix_pool_config({p}, "/etc/postfix/m.regexp");
    std::string n = "milter_header_checks = pcre:/etc/postfix/other, regexp:/etc/postfix/m.regexp\n";
    std::string m = "ses_127_0_0_3 unix  -       -       n       -       -       smtp\n";
    std::string pp =
        "ses_127_0_0_3/unix/inet_protocols = ipv4\nses_127_0_0_3/unix/smtp_bind_address = 127.0.0.3\n"
        "ses_127_0_0_3/unix/smtp_bind_address_enforce = yes\nses_127_0_0_3/unix/smtp_helo_name = mail.example.com\n";
    std::string map = want.map[0] + "\n";
    CHECK(mta::compare_postfix_pools(want, n, m, pp, map).empty());

    auto diff = mta::compare_postfix_pools(want, "relayhost = [r]\n", "", "", std::nullopt);
    REQUIRE(diff.size() == 8);
    CHECK_THAT(diff[0], Catch::Contains("milter_header_checks does not list regexp:/etc/postfix/m.regexp"));
    CHECK_THAT(diff[1], Catch::Contains("relayhost is set"));
    CHECK_THAT(diff[2], Catch::Contains("no service \"ses_127_0_0_3 unix ... smtp\""));
    CHECK_THAT(diff[3], Catch::Contains("lacks -o smtp_bind_address=127.0.0.3"));
    CHECK_THAT(diff[7], Catch::Contains("cannot be read"));

    std::string wrong = "ses_127_0_0_3/unix/smtp_bind_address = 127.0.0.9\n";
    std::string extra = m + "ses_127_0_0_9 unix - - n - - smtp\n";
    diff = mta::compare_postfix_pools(want, n, extra, wrong, map + "/x/ FILTER ses_127_0_0_9:\n");
    CHECK(std::count_if(diff.begin(), diff.end(),
                        [](auto& d) { return d.find("127.0.0.9, expected 127.0.0.3") != std::string::npos; }) == 1);
    CHECK(std::count_if(diff.begin(), diff.end(), [](auto& d) {
              return d.find("lacks -o smtp_bind_address_enforce=yes") != std::string::npos;
          }) == 1);
    CHECK(std::count_if(diff.begin(), diff.end(),
                        [](auto& d) { return d.find("service ses_127_0_0_9 is not") != std::string::npos; }) == 1);
    CHECK(std::count_if(diff.begin(), diff.end(),
                        [](auto& d) { return d.find("routes to no configured") != std::string::npos; }) == 1);
}

TEST_CASE("examples/lua/dedicated_overflow.lua: provider caps per address, then the shared pool", "[pools]") {
    Fx fx("unused", repo_file("examples/lua/dedicated_overflow.lua"));
    // Level 1: 500 a day per dedicated address, 200 of them to gmail.
    std::map<std::string, int> from;
    for (int i = 0; i < 401; ++i) {
        auto r = fx.send("u" + std::to_string(i) + "@gmail.com");
        REQUIRE(r.decision.action == warmup::Decision::Action::accept);
        from[r.route.address + (r.route.overflow_from.empty() ? "" : " overflow")]++;
    }
    CHECK(from == std::map<std::string, int>{{"127.0.0.3", 200}, {"2001:db8::1", 200}, {"127.0.0.2 overflow", 1}});
    // Other providers still fit on the first dedicated address.
    auto r = fx.send("x@example.org");
    CHECK(r.route.address == "127.0.0.3");
    CHECK(r.route.overflow_from.empty());
}
