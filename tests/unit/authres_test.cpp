// authres_test.cpp -- Authentication-Results formatting and parsing
// (RFC 8601), the inbound action table, and the inbound stage's edits.
#include <catch2/catch.hpp>

#include "auth/authentication_results.hpp"
#include "auth/inbound.hpp"
#include "dns/static_lookup.hpp"
#include "mail/address.hpp"

using namespace ses;
using auth::MethodResult;

TEST_CASE("Authentication-Results values are formatted per RFC 8601", "[authres]") {
    std::vector<MethodResult> r = {
        {"dkim", "pass", "", {{"header.d", "example.com"}, {"header.s", "s1"}, {"header.b", "DQPvUjlz"}}},
        {"spf",
         "fail",
         "mx: domain of example.com does not designate 192.0.2.1",
         {{"smtp.mailfrom", "alice@example.com"}}},
        {"dmarc", "fail", "p=reject dis=quarantine", {{"header.from", "example.com"}}},
    };
    CHECK(auth::format_authentication_results("mx.example.com", r) ==
          "mx.example.com;\n"
          "\tdkim=pass header.d=example.com header.s=s1 header.b=DQPvUjlz;\n"
          "\tspf=fail (mx: domain of example.com does not designate 192.0.2.1) smtp.mailfrom=alice@example.com;\n"
          "\tdmarc=fail (p=reject dis=quarantine) header.from=example.com");
    CHECK(auth::format_authentication_results("mx.example.com", {}) == "mx.example.com; none");
}

TEST_CASE("property values and comments cannot break the header", "[authres]") {
    struct Row {
        std::string in, out;
    } rows[] = {
        {"example.com", "example.com"},
        {"alice@example.com", "alice@example.com"},
        {"first.last+tag@example.com", "first.last+tag@example.com"},
        {"@example.com", "@example.com"},
        {"\"odd local\"@example.com", "\"\\\"odd local\\\"@example.com\""},
        {"a b@example.com", "\"a b@example.com\""},
        {"x;dkim=pass", "\"x;dkim=pass\""},
        {"evil\r\nX-Injected: 1", "\"evil X-Injected: 1\""},
        {"", "\"\""},
    };
    for (auto& r : rows) {
        INFO(r.in);
        CHECK(auth::property_value(r.in) == r.out);
    }
    CHECK(auth::comment("a (b) \\c") == "(a \\(b\\) \\\\c)");
    CHECK(auth::comment("line\r\nbreak") == "(line break)");
    std::string v = auth::format_authentication_results("mx", {{"spf", "none", "x)\r\ny", {{"smtp.helo", "h\nX: y"}}}});
    CHECK(v.find('\r') == std::string::npos);
    CHECK(v.find("\nX") == std::string::npos);  // only our own "\n\t" folds
}

TEST_CASE("the authserv-id of an existing header", "[authres]") {
    struct Row {
        std::string value;
        std::optional<std::string> id;
    } rows[] = {
        {" mx.example.com; spf=pass smtp.mailfrom=a@b", "mx.example.com"},
        {"mx.example.com;spf=pass", "mx.example.com"},
        {" mx.example.com 1; none", "mx.example.com"},
        {" (comment (nested)) mx.example.com; none", "mx.example.com"},
        {" \"quoted.example\"; none", "quoted.example"},
        {"\r\n\tmx.example.com;\r\n\tdkim=pass", "mx.example.com"},
        {" ; none", std::nullopt},
        {"", std::nullopt},
        {" \"unterminated", std::nullopt},
    };
    for (auto& r : rows) {
        INFO(r.value);
        CHECK(auth::authserv_id(r.value) == r.id);
    }
}

TEST_CASE("inbound action table", "[authres]") {
    auto report = [](auth::SpfResult spf, auth::DmarcResult dmarc, auth::Policy applied, std::string dkim = "") {
        auth::InboundReport r;
        r.spf.result = spf;
        r.spf.domain = "example.com";
        r.dmarc.result = dmarc;
        r.dmarc.applied = applied;
        r.dmarc.policy = applied;
        r.dmarc.policy_domain = "example.com";
        r.dmarc.reason = "no aligned SPF or DKIM pass";
        r.from_domain = "example.com";
        if (!dkim.empty()) r.dkim.signatures.push_back({"example.com", "s1", dkim, "", "", "", 0});
        return r;
    };
    auth::VerifySettings annotate;
    auth::VerifySettings act;
    act.dmarc_reject = true;
    act.dmarc_quarantine = true;
    auth::VerifySettings quarantine_only;
    quarantine_only.dmarc_quarantine = true;
    auth::VerifySettings no_tempfail;
    no_tempfail.tempfail_on_dns_error = false;

    using K = auth::Action::Kind;
    using auth::DmarcResult;
    using auth::Policy;
    using auth::SpfResult;
    struct Row {
        std::string name;
        auth::InboundReport r;
        auth::VerifySettings s;
        K kind;
        std::string reply;
    } rows[] = {
        {"pass annotates", report(SpfResult::pass, DmarcResult::pass, Policy::none), act, K::annotate, ""},
        {"reject policy, default settings annotate", report(SpfResult::fail, DmarcResult::fail, Policy::reject),
         annotate, K::annotate, ""},
        {"reject policy with dmarc_reject", report(SpfResult::fail, DmarcResult::fail, Policy::reject), act, K::reject,
         "550 5.7.1 message rejected by the DMARC policy of example.com (no aligned SPF or DKIM pass)"},
        {"reject policy, only quarantine enabled", report(SpfResult::fail, DmarcResult::fail, Policy::reject),
         quarantine_only, K::quarantine, ""},
        {"quarantine policy", report(SpfResult::fail, DmarcResult::fail, Policy::quarantine), act, K::quarantine, ""},
        {"none policy", report(SpfResult::fail, DmarcResult::fail, Policy::none), act, K::annotate, ""},
        {"SPF temperror", report(SpfResult::temperror, DmarcResult::temperror, Policy::none), annotate, K::tempfail,
         "451 4.4.3 DNS lookup failed for SPF for example.com; try again later"},
        {"DKIM temperror", report(SpfResult::pass, DmarcResult::pass, Policy::none, "temperror"), annotate, K::tempfail,
         "451 4.4.3 DNS lookup failed for DKIM key s1._domainkey.example.com; try again later"},
        {"DNS errors only annotated when asked", report(SpfResult::temperror, DmarcResult::temperror, Policy::none),
         no_tempfail, K::annotate, ""},
    };
    for (auto& r : rows) {
        INFO(r.name);
        auto a = auth::decide_action(r.r, r.s);
        CHECK(a.kind == r.kind);
        CHECK(a.reply.str() == (r.reply.empty() ? "  " : r.reply));
    }
}

TEST_CASE("the inbound stage replaces forged results and adds its own", "[authres]") {
    mail::init();
    auto z = std::make_shared<dns::StaticLookup>();
    z->add("example.com", dns::rr::TXT, "v=spf1 ip4:192.0.2.0/24 -all")
        .add("_dmarc.example.com", dns::rr::TXT, "v=DMARC1; p=reject")
        .add("other.example", dns::rr::TXT, "v=spf1 -all")
        .add("_dmarc.other.example", dns::rr::TXT, "v=DMARC1; p=reject");
    auto spf = std::make_shared<auth::Spf>(z, "mx.example.net");
    auto dkim = std::make_shared<dkim::Verifier>(z);
    auto dmarc = std::make_shared<auth::Dmarc>(z);
    auth::VerifySettings s;
    s.enabled = true;
    s.authserv_id = "mx.example.net";
    auth::Inbound inbound(s, spf, dkim, dmarc, [] { return 0.0; });

    mail::Message m;
    m.env.client_addr = "192.0.2.7";
    m.env.helo = "client.example.com";
    m.env.mail_from = "alice@example.com";
    m.feed_header("Authentication-Results", " MX.example.net; dkim=pass header.d=bank.example");
    m.feed_header("Authentication-Results", " other.example; spf=pass");
    m.feed_header("From", " Alice <alice@example.com>");
    m.feed_header("Subject", " hi");
    m.feed_body("hello\r\n");
    REQUIRE(inbound.run(m).ok());
    REQUIRE(m.count("Authentication-Results") == 2);
    CHECK(m.headers()[0].name == "Authentication-Results");
    CHECK(m.headers()[0].value ==
          " mx.example.net;\n\tdkim=none;\n"
          "\tspf=pass (mx.example.net: domain of example.com designates 192.0.2.7 as permitted sender) "
          "smtp.mailfrom=alice@example.com;\n"
          "\tdmarc=pass (p=reject) header.from=example.com");
    CHECK(auth::authserv_id(m.find("Authentication-Results", 2)->value) == "other.example");
    bool deleted = false, inserted = false;
    for (auto& e : m.edits()) {
        deleted = deleted || (e.kind == mail::Edit::Kind::delete_header && e.index == 1);
        inserted = inserted || (e.kind == mail::Edit::Kind::insert_header && e.index == 0);
    }
    CHECK(deleted);
    CHECK(inserted);

    // DMARC reject with dmarc_reject: refused, no edits kept by the edge.
    s.dmarc_reject = true;
    auth::Inbound strict(s, spf, dkim, dmarc, [] { return 0.0; });
    mail::Message f;
    f.env.client_addr = "198.51.100.1";
    f.env.helo = "spoof.example";
    f.env.mail_from = "x@other.example";
    f.feed_header("From", " <ceo@example.com>");
    auto st = strict.run(f);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reply.code == "550");
    CHECK(st.error().reply.xcode == "5.7.1");

    // DNS down: 451 4.4.3.
    auto down = std::make_shared<dns::StaticLookup>();
    down->fail("example.com", dns::rr::TXT).fail("_dmarc.example.com", dns::rr::TXT);
    auth::Inbound dead(s, std::make_shared<auth::Spf>(down, "mx"), std::make_shared<dkim::Verifier>(down),
                       std::make_shared<auth::Dmarc>(down), [] { return 0.0; });
    mail::Message t;
    t.env.client_addr = "192.0.2.7";
    t.env.mail_from = "alice@example.com";
    t.feed_header("From", " alice@example.com");
    auto ts = dead.run(t);
    REQUIRE_FALSE(ts.ok());
    CHECK(ts.error().reply.str().rfind("451 4.4.3 DNS lookup failed", 0) == 0);
}
