// dmarc_test.cpp -- the DMARC decision table, record parsing (libopendmarc),
// organizational domains (Public Suffix List) and policy discovery.
#include <catch2/catch.hpp>

#include "auth/dmarc.hpp"
#include "dns/static_lookup.hpp"

using namespace ses;
using auth::DmarcResult;
using auth::Policy;
using auth::SpfResult;

namespace {

// Organizational domain = last two labels (enough for the table).
std::string two_labels(std::string_view d) {
    std::string s(d);
    auto p = s.rfind('.');
    if (p == std::string::npos) return s;
    auto q = s.rfind('.', p - 1);
    return q == std::string::npos ? s : s.substr(q + 1);
}

auth::DmarcLookup found(std::string domain, Policy p, bool from_org = false, int pct = 100,
                        std::optional<Policy> sp = std::nullopt, bool adkim_s = false, bool aspf_s = false) {
    auth::DmarcLookup l;
    l.status = DmarcResult::pass;
    auth::DmarcRecord r;
    r.domain = std::move(domain);
    r.p = p;
    r.sp = sp;
    r.pct = pct;
    r.from_org = from_org;
    r.adkim_strict = adkim_s;
    r.aspf_strict = aspf_s;
    l.record = r;
    return l;
}

}  // namespace

TEST_CASE("DMARC decision table", "[dmarc]") {
    auth::OrgDomainFn org = two_labels;
    struct Row {
        std::string name;
        auth::DmarcInput in;
        DmarcResult result;
        Policy applied;
    };
    auto in = [](std::string from, auth::DmarcLookup l, SpfResult spf, std::string spf_dom,
                 std::vector<std::string> dkim, double sample = 0.0) {
        auth::DmarcInput x;
        x.from_domain = std::move(from);
        x.lookup = std::move(l);
        x.spf = spf;
        x.spf_domain = std::move(spf_dom);
        for (auto& d : dkim) x.dkim.push_back({d});
        x.sample = sample;
        return x;
    };
    std::vector<Row> rows = {
        {"aligned SPF passes",
         in("example.com", found("example.com", Policy::reject), SpfResult::pass, "example.com", {}), DmarcResult::pass,
         Policy::none},
        {"aligned DKIM passes",
         in("example.com", found("example.com", Policy::reject), SpfResult::fail, "other.net", {"example.com"}),
         DmarcResult::pass, Policy::none},
        {"relaxed: subdomain SPF aligns",
         in("example.com", found("example.com", Policy::reject), SpfResult::pass, "bounce.example.com", {}),
         DmarcResult::pass, Policy::none},
        {"strict SPF: subdomain does not align",
         in("example.com", found("example.com", Policy::reject, false, 100, {}, false, true), SpfResult::pass,
            "bounce.example.com", {}),
         DmarcResult::fail, Policy::reject},
        {"strict DKIM: subdomain does not align",
         in("example.com", found("example.com", Policy::quarantine, false, 100, {}, true, false), SpfResult::none, "",
            {"mail.example.com"}),
         DmarcResult::fail, Policy::quarantine},
        {"unaligned pass is a fail, p=none",
         in("example.com", found("example.com", Policy::none), SpfResult::pass, "other.net", {"other.net"}),
         DmarcResult::fail, Policy::none},
        {"fail p=quarantine",
         in("example.com", found("example.com", Policy::quarantine), SpfResult::fail, "example.com", {}),
         DmarcResult::fail, Policy::quarantine},
        {"fail p=reject",
         in("example.com", found("example.com", Policy::reject), SpfResult::softfail, "example.com", {}),
         DmarcResult::fail, Policy::reject},
        {"pct: outside the sample, reject becomes quarantine",
         in("example.com", found("example.com", Policy::reject, false, 20), SpfResult::fail, "example.com", {}, 0.5),
         DmarcResult::fail, Policy::quarantine},
        {"pct: inside the sample",
         in("example.com", found("example.com", Policy::reject, false, 20), SpfResult::fail, "example.com", {}, 0.1),
         DmarcResult::fail, Policy::reject},
        {"pct: quarantine outside becomes none",
         in("example.com", found("example.com", Policy::quarantine, false, 0), SpfResult::fail, "example.com", {}, 0.0),
         DmarcResult::fail, Policy::none},
        {"sp applies to a record found at the organizational domain",
         in("mail.example.com", found("example.com", Policy::reject, true, 100, Policy::none), SpfResult::fail, "x.net",
            {}),
         DmarcResult::fail, Policy::none},
        {"p applies when the subdomain has its own record",
         in("mail.example.com", found("mail.example.com", Policy::reject, false, 100, Policy::none), SpfResult::fail,
            "x.net", {}),
         DmarcResult::fail, Policy::reject},
        {"no record", in("example.com", auth::DmarcLookup{}, SpfResult::fail, "x.net", {}), DmarcResult::none,
         Policy::none},
        {"no From domain", in("", found("example.com", Policy::reject), SpfResult::fail, "x.net", {}),
         DmarcResult::none, Policy::none},
        {"SPF temperror and nothing aligned",
         in("example.com", found("example.com", Policy::reject), SpfResult::temperror, "example.com", {}),
         DmarcResult::temperror, Policy::none},
        {"SPF temperror but DKIM aligned",
         in("example.com", found("example.com", Policy::reject), SpfResult::temperror, "example.com", {"example.com"}),
         DmarcResult::pass, Policy::none},
    };
    auth::DmarcInput dns_down;
    dns_down.from_domain = "example.com";
    dns_down.lookup.status = DmarcResult::temperror;
    rows.push_back({"record lookup temperror", dns_down, DmarcResult::temperror, Policy::none});
    auth::DmarcInput broken;
    broken.from_domain = "example.com";
    broken.lookup.status = DmarcResult::permerror;
    broken.lookup.detail = "bad p=";
    rows.push_back({"unparsable record", broken, DmarcResult::permerror, Policy::none});
    auth::DmarcInput dkim_tmp =
        in("example.com", found("example.com", Policy::reject), SpfResult::fail, "example.com", {});
    dkim_tmp.dkim_temperror = true;
    rows.push_back({"DKIM temperror and nothing aligned", dkim_tmp, DmarcResult::temperror, Policy::none});

    for (auto& r : rows) {
        INFO(r.name);
        auto out = auth::evaluate(r.in, org);
        CHECK(out.result == r.result);
        CHECK(out.applied == r.applied);
    }
}

TEST_CASE("alignment compares organizational domains from the PSL", "[dmarc]") {
    auth::Dmarc d(std::make_shared<dns::StaticLookup>());
    CHECK(d.org_domain("mail.example.com") == "example.com");
    CHECK(d.org_domain("a.b.example.co.uk") == "example.co.uk");
    CHECK(d.org_domain("MAIL.EXAMPLE.COM.") == "example.com");
    CHECK(d.org_domain("x.y.example.test") == "example.test");  // no listed suffix: last two labels
    auto org = d.org_fn();
    CHECK(auth::aligned("mail.example.com", "example.com", false, org));
    CHECK_FALSE(auth::aligned("mail.example.com", "example.com", true, org));
    CHECK(auth::aligned("Example.COM", "example.com", true, org));
    // libopendmarc 1.4.2 aligns these by suffix; github.io is a public suffix.
    CHECK_FALSE(auth::aligned("victim.github.io", "github.io", false, org));
    CHECK_FALSE(auth::aligned("victim.github.io", "attacker.github.io", false, org));
    CHECK_FALSE(auth::aligned("example.com", "example.net", false, org));
}

TEST_CASE("DMARC records parse with libopendmarc", "[dmarc]") {
    auto r = auth::Dmarc::parse("v=DMARC1; p=quarantine; sp=reject; pct=50; adkim=s; rua=mailto:d@example.com",
                                "Example.com");
    REQUIRE(r.ok());
    CHECK(r->domain == "example.com");
    CHECK(r->p == Policy::quarantine);
    REQUIRE(r->sp);
    CHECK(*r->sp == Policy::reject);
    CHECK(r->pct == 50);
    CHECK(r->adkim_strict);
    CHECK_FALSE(r->aspf_strict);
    CHECK(r->rua == std::vector<std::string>{"mailto:d@example.com"});

    auto d = auth::Dmarc::parse("v=DMARC1; p=none", "example.com");
    REQUIRE(d.ok());
    CHECK(d->pct == 100);
    CHECK_FALSE(d->sp);

    CHECK_FALSE(auth::Dmarc::parse("v=DMARC1; p=bogus", "example.com").ok());
    CHECK_FALSE(auth::Dmarc::parse("v=DMARC1; rua=mailto:x@example.com", "example.com").ok());  // no p=
    CHECK_FALSE(auth::Dmarc::parse("p=reject; v=DMARC1", "example.com").ok());                  // v= first
    CHECK_FALSE(auth::Dmarc::parse("v=spf1 -all", "example.com").ok());
}

TEST_CASE("DMARC policy discovery falls back to the organizational domain", "[dmarc]") {
    auto z = std::make_shared<dns::StaticLookup>();
    z->add("_dmarc.example.com", dns::rr::TXT, "v=DMARC1; p=reject; sp=quarantine")
        .add("_dmarc.example.com", dns::rr::TXT, "some other text")
        .add("_dmarc.own.example.com", dns::rr::TXT, "v=DMARC1; p=none")
        .add("_dmarc.two.example", dns::rr::TXT, "v=DMARC1; p=none")
        .add("_dmarc.two.example", dns::rr::TXT, "v=DMARC1; p=reject")
        .add("_dmarc.bad.example", dns::rr::TXT, "v=DMARC1; p=maybe");
    z->fail("_dmarc.slow.example", dns::rr::TXT);
    auth::Dmarc d(z);

    auto top = d.fetch("example.com");
    REQUIRE(top.status == DmarcResult::pass);
    CHECK_FALSE(top.record->from_org);
    CHECK(top.record->p == Policy::reject);

    auto sub = d.fetch("mail.example.com");
    REQUIRE(sub.status == DmarcResult::pass);
    CHECK(sub.record->from_org);
    CHECK(sub.record->domain == "example.com");

    auto own = d.fetch("own.example.com");
    REQUIRE(own.status == DmarcResult::pass);
    CHECK(own.record->p == Policy::none);

    CHECK(d.fetch("two.example").status == DmarcResult::none);  // several records: no policy
    CHECK(d.fetch("bad.example").status == DmarcResult::permerror);
    CHECK(d.fetch("slow.example").status == DmarcResult::temperror);
    CHECK(d.fetch("nothing.example").status == DmarcResult::none);
}
