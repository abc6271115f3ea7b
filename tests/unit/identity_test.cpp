// identity_test.cpp -- the outbound identity decision, outbound
// classification, and identity verification against a static zone.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "auth/dmarc.hpp"
#include "auth/identity.hpp"
#include "auth/outbound.hpp"
#include "auth/spf.hpp"
#include "auth/verification.hpp"
#include "dkim/keygen.hpp"
#include "dns/static_lookup.hpp"
#include "mail/address.hpp"

using namespace ses;
using auth::VerifyState;

namespace {

std::string two_labels(std::string_view d) {
    std::string s(d);
    auto p = s.rfind('.');
    if (p == std::string::npos) return s;
    auto q = s.rfind('.', p - 1);
    return q == std::string::npos ? s : s.substr(q + 1);
}

std::vector<auth::IdentityConf> identities() {
    std::vector<auth::IdentityConf> ids(4);
    ids[0].domain = "example.com";
    ids[1].domain = "shop.example";
    ids[1].smtp_users = {"alice", "bob"};
    ids[2].domain = "strict.example";
    ids[2].alignment = auth::Alignment::strict;
    ids[3].domain = "verified.example";
    ids[3].require_verified = true;
    return ids;
}

}  // namespace

TEST_CASE("outbound identity decision table", "[identity]") {
    auto ids = identities();
    std::map<std::string, auth::IdentityStatus> stored;
    auth::IdentityContext ctx{&ids, true, two_labels, [&](std::string_view d) -> std::optional<auth::IdentityStatus> {
                                  auto it = stored.find(std::string(d));
                                  if (it == stored.end()) return std::nullopt;
                                  return it->second;
                              }};
    struct Row {
        std::string name;
        auth::IdentityInput in;
        std::string reply;  // "" = allowed
    };
    std::vector<Row> rows = {
        {"configured identity", {"a@example.com", {"a@example.com"}, "", ""}, ""},
        {"subdomain of an identity", {"a@news.example.com", {"a@news.example.com"}, "", ""}, ""},
        {"null sender, From decides", {"", {"a@example.com"}, "", ""}, ""},
        {"unknown From domain",
         {"a@example.com", {"a@evil.example"}, "", ""},
         "550 5.7.1 From: domain evil.example is not a configured sending identity"},
        {"unknown envelope domain",
         {"a@evil.example", {"a@example.com"}, "", ""},
         "550 5.7.1 sender domain evil.example is not a configured sending identity"},
        {"no From",
         {"a@example.com", {}, "", ""},
         "550 5.7.1 message has no From: address; it cannot be sent as any identity"},
        {"two From addresses",
         {"a@example.com", {"a@example.com", "b@example.com"}, "", ""},
         "550 5.7.1 From: names 2 addresses; exactly one sending identity is required"},
        {"listed SASL user", {"a@shop.example", {"a@shop.example"}, "bob", ""}, ""},
        {"SASL user names are case-insensitive", {"a@shop.example", {"a@shop.example"}, "Alice", ""}, ""},
        {"unlisted SASL user",
         {"a@shop.example", {"a@shop.example"}, "mallory", ""},
         "550 5.7.1 user mallory is not allowed to send as shop.example"},
        {"user checked on the envelope identity too",
         {"a@shop.example", {"a@example.com"}, "mallory", ""},
         "550 5.7.1 user mallory is not allowed to send as shop.example"},
        {"empty smtp_users allows any user", {"a@example.com", {"a@example.com"}, "mallory", ""}, ""},
        {"relaxed: From subdomain signed by parent", {"", {"a@news.example.com"}, "", "example.com"}, ""},
        {"signing domain of another organization",
         {"", {"a@example.com"}, "", "shop.example"},
         "550 5.7.1 From: domain example.com does not align with DKIM signing domain shop.example (relaxed alignment)"},
        {"strict: subdomain does not align",
         {"", {"a@news.strict.example"}, "", "strict.example"},
         "550 5.7.1 From: domain news.strict.example does not align with DKIM signing domain strict.example (strict "
         "alignment)"},
        {"strict: same domain aligns", {"", {"a@strict.example"}, "", "strict.example"}, ""},
        {"require_verified, never checked",
         {"", {"a@verified.example"}, "", ""},
         "550 5.7.1 identity verified.example not verified: never checked (sesctl identity verify verified.example)"},
    };
    for (auto& r : rows) {
        INFO(r.name);
        auto d = auth::decide_identity(r.in, ctx);
        CHECK(d.allowed == r.reply.empty());
        CHECK(d.reply.str() == (r.reply.empty() ? "  " : r.reply));
    }

    stored["verified.example"] = {VerifyState::pending, "DKIM record s1._domainkey missing", 1};
    auto d = auth::decide_identity({"", {"a@verified.example"}, "", ""}, ctx);
    CHECK(d.reply.str() == "550 5.7.1 identity verified.example not verified: DKIM record s1._domainkey missing");
    stored["verified.example"] = {VerifyState::verified, "", 2};
    CHECK(auth::decide_identity({"", {"a@verified.example"}, "", ""}, ctx).allowed);
}

TEST_CASE("identity lookup prefers the exact, then the longest parent", "[identity]") {
    std::vector<auth::IdentityConf> ids(2);
    ids[0].domain = "example.com";
    ids[1].domain = "mail.example.com";
    CHECK(auth::find_identity(ids, "EXAMPLE.com.", true) == &ids[0]);
    CHECK(auth::find_identity(ids, "x.mail.example.com", true) == &ids[1]);
    CHECK(auth::find_identity(ids, "x.example.com", false) == nullptr);
    CHECK(auth::find_identity(ids, "badexample.com", true) == nullptr);
}

TEST_CASE("the identity stage reads the message", "[identity]") {
    mail::init();
    auth::IdentityStage stage(identities(), true, two_labels, {});
    mail::Message m;
    m.env.mail_from = "<a@example.com>";
    m.feed_header("From", " \"Alice\" <alice@example.com>");
    CHECK(stage.run(m, "example.com").ok());
    mail::Message bad;
    bad.env.mail_from = "a@example.com";
    bad.feed_header("From", " Mallory <m@evil.example>");
    auto st = stage.run(bad, "");
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reply.str() == "550 5.7.1 From: domain evil.example is not a configured sending identity");
}

TEST_CASE("outbound classification", "[identity]") {
    auth::OutboundSettings s;  // authenticated, 127.0.0.0/8 ::1/128, ORIGINATING
    struct Row {
        std::string addr, user, daemon;
        bool outbound;
    } rows[] = {
        {"192.0.2.1", "alice", "", true},
        {"127.0.0.1", "", "", true},
        {"::1", "", "", true},
        {"::ffff:127.0.0.5", "", "", true},
        {"192.0.2.1", "", "ORIGINATING", true},
        {"192.0.2.1", "", "smtpd", false},
        {"192.0.2.1", "", "", false},
        {"", "", "", false},
    };
    for (auto& r : rows) {
        mail::Envelope e;
        e.client_addr = r.addr;
        e.auth_user = r.user;
        e.daemon_name = r.daemon;
        INFO(r.addr << " user=" << r.user << " daemon=" << r.daemon);
        CHECK(auth::classify_outbound(e, s).outbound == r.outbound);
    }
    auth::OutboundSettings none;
    none.authenticated = false;
    none.networks.clear();
    none.daemons.clear();
    mail::Envelope e;
    e.auth_user = "alice";
    e.client_addr = "127.0.0.1";
    CHECK_FALSE(auth::classify_outbound(e, none).outbound);
    CHECK(auth::classify_outbound(e, s).why == "SASL user alice");
}

TEST_CASE("CIDR matching", "[identity]") {
    struct Row {
        std::string cidr, ip;
        bool in;
    } rows[] = {
        {"192.0.2.0/24", "192.0.2.200", true},     {"192.0.2.0/24", "192.0.3.1", false},
        {"192.0.2.128/25", "192.0.2.127", false},  {"10.0.0.0/8", "10.255.0.1", true},
        {"0.0.0.0/0", "203.0.113.1", true},        {"192.0.2.1", "192.0.2.1", true},
        {"192.0.2.1", "192.0.2.2", false},         {"2001:db8::/32", "2001:db8:1::5", true},
        {"2001:db8::/32", "2001:db9::5", false},   {"::1/128", "::1", true},
        {"127.0.0.0/8", "::ffff:127.0.0.1", true}, {"127.0.0.0/8", "::1", false},
        {"192.0.2.0/24", "garbage", false},        {"192.0.2.0/33", "192.0.2.1", false},
    };
    for (auto& r : rows) {
        INFO(r.cidr << " " << r.ip);
        CHECK(auth::cidr_contains(r.cidr, r.ip) == r.in);
    }
    CHECK_FALSE(auth::check_cidr("192.0.2.0/24").has_value());
    CHECK(auth::check_cidr("192.0.2.0/33").has_value());
    CHECK(auth::check_cidr("2001:db8::/129").has_value());
    CHECK(auth::check_cidr("example.com").has_value());
    CHECK(auth::check_cidr("10.0.0.0/").has_value());
}

TEST_CASE("identity verification against DNS", "[identity]") {
    auto key = dkim::generate_key("ed25519", 0);
    REQUIRE(key.ok());
    auto other = dkim::generate_key("ed25519", 0);
    REQUIRE(other.ok());

    auth::IdentityConf id;
    id.domain = "example.com";
    id.outbound_ips = {"192.0.2.10"};
    std::vector<auth::ExpectedKey> keys = {{"s1", key->txt, ""}};

    auto z = std::make_shared<dns::StaticLookup>();
    auth::Spf spf(z, "mx.test");
    auth::Dmarc dmarc(z);

    // Nothing published: pending, with the records to publish.
    auto r = auth::verify_identity(id, keys, *z, spf, dmarc, 1000);
    CHECK(r.state == VerifyState::pending);
    CHECK(r.reason == "DKIM record s1._domainkey missing");
    CHECK(r.checked_at == 1000);
    REQUIRE(r.checks.size() == 3);
    CHECK(r.checks[0].publish == dkim::zone_line("s1", "example.com", key->txt));
    CHECK(r.checks[1].kind == "spf");
    CHECK(r.checks[1].publish == "example.com. IN TXT ( \"v=spf1 ip4:192.0.2.10 ~all\" )");
    CHECK(r.checks[2].publish.find("_dmarc.example.com. IN TXT ( \"v=DMARC1; p=none") == 0);

    // Everything right: verified.
    auto ok = std::make_shared<dns::StaticLookup>();
    ok->add("s1._domainkey.example.com", dns::rr::TXT, key->txt)
        .add("example.com", dns::rr::TXT, "v=spf1 ip4:192.0.2.0/24 -all")
        .add("_dmarc.example.com", dns::rr::TXT, "v=DMARC1; p=reject");
    auth::Spf spf2(ok, "mx.test");
    auth::Dmarc dmarc2(ok);
    auto v = auth::verify_identity(id, keys, *ok, spf2, dmarc2, 2000);
    CHECK(v.state == VerifyState::verified);
    CHECK(v.reason.empty());
    for (auto& c : v.checks) {
        INFO(c.kind << ": " << c.detail);
        CHECK(c.state == VerifyState::verified);
        CHECK(c.publish.empty());
    }
    CHECK(v.checks[2].detail == "DMARC record _dmarc.example.com: p=reject");

    // Wrong key, an SPF policy that leaves our address out, a broken DMARC record.
    auto bad = std::make_shared<dns::StaticLookup>();
    bad->add("s1._domainkey.example.com", dns::rr::TXT, other->txt)
        .add("example.com", dns::rr::TXT, "v=spf1 ip4:198.51.100.0/24 -all")
        .add("_dmarc.example.com", dns::rr::TXT, "v=DMARC1; p=sometimes");
    auth::Spf spf3(bad, "mx.test");
    auth::Dmarc dmarc3(bad);
    auto f = auth::verify_identity(id, keys, *bad, spf3, dmarc3, 3000);
    CHECK(f.state == VerifyState::failed);
    CHECK(f.reason == "DKIM record s1._domainkey does not match the key");
    CHECK(f.checks[1].state == VerifyState::failed);
    CHECK(f.checks[1].detail == "SPF record of example.com does not authorize 192.0.2.10 (fail)");
    CHECK(f.checks[1].publish == "example.com. IN TXT ( \"v=spf1 ip4:192.0.2.10 ip4:198.51.100.0/24 -all\" )");
    CHECK(f.checks[2].state == VerifyState::failed);

    // DNS down: pending, never failed.
    auto down = std::make_shared<dns::StaticLookup>();
    down->fail("s1._domainkey.example.com", dns::rr::TXT).fail("_dmarc.example.com", dns::rr::TXT);
    down->fail("example.com", dns::rr::TXT);
    auth::Spf spf4(down, "mx.test");
    auth::Dmarc dmarc4(down);
    auto t = auth::verify_identity(id, keys, *down, spf4, dmarc4, 4000);
    CHECK(t.state == VerifyState::pending);
    for (auto& c : t.checks) CHECK(c.state == VerifyState::pending);
}

TEST_CASE("DKIM record comparison and expected keys", "[identity]") {
    CHECK(auth::dkim_record_matches("v=DKIM1; k=rsa; p=AB CD", "v=DKIM1; p=ABCD"));
    CHECK(auth::dkim_record_matches("v=DKIM1; k=ed25519; p=XYZ", "v=DKIM1; k=ed25519; p=XYZ"));
    CHECK_FALSE(auth::dkim_record_matches("v=DKIM1; k=rsa; p=XYZ", "v=DKIM1; k=ed25519; p=XYZ"));
    CHECK_FALSE(auth::dkim_record_matches("v=DKIM1; p=", "v=DKIM1; p="));
    CHECK_FALSE(auth::dkim_record_matches("v=DKIM1; p=ABC", "v=DKIM1; p=ABD"));

    auto key = dkim::generate_key("ed25519", 0);
    REQUIRE(key.ok());
    auto dir = std::filesystem::temp_directory_path() / ("ses-identity-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "k.pem") << key->pem;
    auth::IdentityConf id;
    id.domain = "example.com";
    id.dkim = {{"s1", (dir / "k.pem").string()}, {"s2", (dir / "missing.pem").string()}};
    auto keys = auth::expected_keys(id);
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].txt == key->txt);
    CHECK(keys[0].error.empty());
    CHECK_FALSE(keys[1].error.empty());
    std::filesystem::remove_all(dir);
}

TEST_CASE("verification reports survive JSON", "[identity]") {
    auth::IdentityReport r;
    r.domain = "example.com";
    r.state = VerifyState::failed;
    r.reason = "x";
    r.checked_at = 5;
    r.pending_since = 3;
    r.checks.push_back({"dkim", "s1._domainkey.example.com", VerifyState::failed, "d", "f", "p"});
    auto back = auth::report_from_json(auth::to_json(r));
    REQUIRE(back);
    CHECK(back->state == VerifyState::failed);
    CHECK(back->pending_since == 3);
    REQUIRE(back->checks.size() == 1);
    CHECK(back->checks[0].publish == "p");
    CHECK_FALSE(auth::report_from_json(nlohmann::json{{"domain", "x"}, {"state", "maybe"}}));
}
