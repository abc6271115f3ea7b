// spf_test.cpp -- SPF over a static zone: results, RFC 7208 limits, the
// record grammar check, and the CVE-2023-42118 guard.
#include <catch2/catch.hpp>

#include "auth/spf.hpp"
#include "auth/spf_guard.hpp"
#include "auth/spf_record.hpp"
#include "dns/static_lookup.hpp"

using namespace ses;
using auth::SpfResult;

namespace {

std::string repeat(std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

// A record that reaches the libspf2 1.2.10 underflow: 63 macros fill the
// 511-byte compile area to within 4 bytes, and the literal text after them
// would then be copied with no length check.
std::string hostile_record() { return "v=spf1 a:" + repeat("%{d}", 63) + repeat("x", 200) + ".example -all"; }

std::shared_ptr<dns::StaticLookup> zone() {
    auto z = std::make_shared<dns::StaticLookup>();
    z->add("example.com", dns::rr::TXT, "v=spf1 ip4:192.0.2.0/24 a:mail.example.com exp=exp.example.com -all")
        .add("exp.example.com", dns::rr::TXT, "%{i} is not allowed to send for %{d}")
        .add("mail.example.com", dns::rr::A, "198.51.100.7")
        .add("soft.example", dns::rr::TXT, "v=spf1 ~all")
        .add("neutral.example", dns::rr::TXT, "v=spf1 ?all")
        .add("incl.example", dns::rr::TXT, "v=spf1 include:example.com -all")
        .add("helo.example", dns::rr::TXT, "v=spf1 a -all")
        .add("helo.example", dns::rr::A, "203.0.113.9")
        .add("v6.example", dns::rr::TXT, "v=spf1 ip6:2001:db8::/32 -all")
        .add("two.example", dns::rr::TXT, "v=spf1 -all")
        .add("two.example", dns::rr::TXT, "v=spf1 +all")
        .add("other.example", dns::rr::TXT, "some other text")
        .add("void2.example", dns::rr::TXT, "v=spf1 a:n1.void.example a:n2.void.example -all")
        .add("void3.example", dns::rr::TXT,
             "v=spf1 a:n1.void.example a:n2.void.example a:n3.void.example ip4:10.0.0.1 -all")
        .add("terms.example", dns::rr::TXT, "v=spf1 include:t1.example include:t1.example ip4:10.0.0.1 -all")
        .add("t1.example", dns::rr::TXT, "v=spf1 a a a a a ?all")
        .add("t1.example", dns::rr::A, "192.0.2.200")
        .add("evil.example", dns::rr::TXT, hostile_record())
        .add("evilinc.example", dns::rr::TXT, "v=spf1 include:evil.example ~all")
        .add("evilexp.example", dns::rr::TXT, "v=spf1 exp=evilexp-text.example -all")
        .add("evilexp-text.example", dns::rr::TXT, repeat("%{d}", 40) + repeat("x", 250))
        .add("bad.example", dns::rr::TXT, "v=spf1 a:museum -all")
        .add("redir.example", dns::rr::TXT, "v=spf1 redirect=example.com ip4:10.9.9.9")
        .add("cidr0.example", dns::rr::TXT, "v=spf1 ip4:1.1.1.1/0 -all")
        .add("a0.example", dns::rr::TXT, "v=spf1 a/0 -all")
        .add("a0.example", dns::rr::A, "1.1.1.1");
    z->fail("tmp.example", dns::rr::TXT);
    z->fail("tmpa.example", dns::rr::A);
    z->add("tmpmech.example", dns::rr::TXT, "v=spf1 a:tmpa.example -all");
    return z;
}

}  // namespace

TEST_CASE("SPF results over a static zone", "[spf]") {
    auto z = zone();
    auth::Spf spf(z, "mx.test");
    struct Row {
        std::string ip, helo, sender;
        SpfResult want;
    } rows[] = {
        {"192.0.2.5", "h.test", "a@example.com", SpfResult::pass},
        {"198.51.100.7", "h.test", "a@example.com", SpfResult::pass},
        {"10.0.0.1", "h.test", "a@example.com", SpfResult::fail},
        {"127.0.0.1", "h.test", "a@example.com", SpfResult::fail},         // no loopback free ride
        {"::ffff:192.0.2.9", "h.test", "a@example.com", SpfResult::pass},  // IPv4-mapped
        {"2001:db8::5", "h.test", "a@v6.example", SpfResult::pass},
        {"2001:db9::5", "h.test", "a@v6.example", SpfResult::fail},
        {"10.0.0.1", "h.test", "a@soft.example", SpfResult::softfail},
        {"10.0.0.1", "h.test", "a@neutral.example", SpfResult::neutral},
        {"192.0.2.5", "h.test", "a@incl.example", SpfResult::pass},
        {"10.0.0.1", "h.test", "a@nothing.example", SpfResult::none},
        {"10.0.0.1", "h.test", "a@other.example", SpfResult::none},
        {"10.0.0.1", "h.test", "a@two.example", SpfResult::permerror},
        {"10.0.0.1", "h.test", "a@tmp.example", SpfResult::temperror},
        {"10.0.0.1", "h.test", "a@tmpmech.example", SpfResult::temperror},
        {"203.0.113.9", "helo.example", "", SpfResult::pass},  // null sender: postmaster@helo
        {"10.0.0.1", "helo.example", "", SpfResult::fail},
        {"10.9.9.9", "h.test", "a@redir.example", SpfResult::pass},  // redirect after mechanisms
        {"10.0.0.1", "h.test", "a@redir.example", SpfResult::fail},
        {"203.0.113.1", "h.test", "a@cidr0.example", SpfResult::pass},  // /0, which libspf2 refuses
        {"203.0.113.1", "h.test", "a@a0.example", SpfResult::pass},
        {"2001:db8::1", "h.test", "a@a0.example", SpfResult::fail},
        {"not-an-ip", "h.test", "a@example.com", SpfResult::none},
    };
    for (auto& r : rows) {
        INFO(r.ip << " " << r.sender << " helo " << r.helo);
        auto o = spf.check_mailfrom({r.ip, r.helo, r.sender});
        INFO(o.comment);
        CHECK(o.result == r.want);
    }
}

TEST_CASE("SPF reports the identity, domain and explanation", "[spf]") {
    auth::Spf spf(zone(), "mx.test");
    auto o = spf.check_mailfrom({"10.0.0.1", "h.test", "<a@example.com>"});
    CHECK(o.result == SpfResult::fail);
    CHECK(o.scope == "mailfrom");
    CHECK(o.identity == "a@example.com");
    CHECK(o.domain == "example.com");
    CHECK(o.explanation == "10.0.0.1 is not allowed to send for example.com");  // spaces kept
    auto n = spf.check_mailfrom({"10.0.0.1", "helo.example", ""});
    CHECK(n.identity == "postmaster@helo.example");
    auto h = spf.check_helo({"203.0.113.9", "helo.example", "a@example.com"});
    CHECK(h.scope == "helo");
    CHECK(h.result == SpfResult::pass);
    CHECK(spf.check_helo({"203.0.113.9", "", "a@example.com"}).result == SpfResult::none);
    CHECK(auth::spf_result_name(SpfResult::softfail) == "softfail");
}

TEST_CASE("a third void lookup is a permerror and stops the evaluation", "[spf]") {
    auto z = zone();
    auth::Spf spf(z, "mx.test");
    auto two = spf.check_mailfrom({"10.0.0.1", "h.test", "a@void2.example"});
    CHECK(two.result == SpfResult::fail);
    CHECK(two.void_lookups == 2);
    auto three = spf.check_mailfrom({"10.0.0.1", "h.test", "a@void3.example"});
    CHECK(three.result == SpfResult::permerror);  // ip4:10.0.0.1 would have passed
    CHECK(three.comment.find("void") != std::string::npos);
    // No question after the third void one.
    auto q = z->questions();
    REQUIRE_FALSE(q.empty());
    CHECK(q.back() == "n3.void.example A");
}

TEST_CASE("of more than 10 PTR names only the first 10 are checked", "[spf]") {
    // RFC 7208 4.6.4 (the suite's ptr-limit case): 11 names, the one that
    // validates is the 11th: neutral, not permerror; within the first 10: pass.
    auto z = zone();
    auto names = [&](const std::string& rev, const std::string& last) {
        for (int i = 1; i <= 10; ++i) z->add(rev, dns::rr::PTR, "h" + std::to_string(i) + ".other.example");
        z->add(rev, dns::rr::PTR, last);
    };
    names("5.2.0.192.in-addr.arpa", "ptr.example");
    z->add("ptr.example", dns::rr::TXT, "v=spf1 ptr ?all").add("ptr.example", dns::rr::A, "192.0.2.5");
    for (int i = 1; i <= 10; ++i) z->add("h" + std::to_string(i) + ".other.example", dns::rr::A, "198.51.100.1");
    auth::Spf spf(z, "mx.test");
    auto o = spf.check_mailfrom({"192.0.2.5", "h.test", "a@ptr.example"});
    CHECK(o.result == SpfResult::neutral);
    // The 11th name is never looked up.
    for (const auto& q : z->questions()) CHECK(q != "ptr.example A");

    z->add("6.2.0.192.in-addr.arpa", dns::rr::PTR, "ptr.example");
    for (int i = 1; i <= 10; ++i)
        z->add("6.2.0.192.in-addr.arpa", dns::rr::PTR, "g" + std::to_string(i) + ".other.example");
    z->add("ptr.example", dns::rr::A, "192.0.2.6");
    CHECK(spf.check_mailfrom({"192.0.2.6", "h.test", "a@ptr.example"}).result == SpfResult::pass);
}

TEST_CASE("more than 10 DNS terms over includes is a permerror", "[spf]") {
    auth::Spf spf(zone(), "mx.test");
    // 2 includes + 2 x 5 "a" = 12 terms; libspf2 alone counts per record.
    auto o = spf.check_mailfrom({"10.0.0.1", "h.test", "a@terms.example"});
    CHECK(o.result == SpfResult::permerror);
    CHECK(o.comment.find("10 DNS") != std::string::npos);
}

TEST_CASE("a record that reaches CVE-2023-42118 is refused, not compiled", "[spf]") {
    REQUIRE(auth::spf_guard::check_record(hostile_record()).has_value());
    auth::Spf spf(zone(), "mx.test");
    for (auto* sender : {"a@evil.example", "a@evilinc.example"}) {
        auto o = spf.check_mailfrom({"10.0.0.1", "h.test", sender});
        INFO(sender << ": " << o.comment);
        CHECK(o.result == SpfResult::permerror);
        CHECK(o.refused_record);
        CHECK(o.comment.find("CVE-2023-42118") != std::string::npos);
    }
    // A hostile explanation is ignored: the default one is used, the result stands.
    auto e = spf.check_mailfrom({"10.0.0.1", "h.test", "a@evilexp.example"});
    CHECK(e.result == SpfResult::fail);
    CHECK_FALSE(e.refused_record);
    CHECK(e.explanation == "10.0.0.1 is not one of evilexp.example's designated mail servers");
}

TEST_CASE("records outside the RFC 7208 grammar are permerror", "[spf]") {
    auth::Spf spf(zone(), "mx.test");
    auto o = spf.check_mailfrom({"10.0.0.1", "h.test", "a@bad.example"});
    CHECK(o.result == SpfResult::permerror);
    CHECK(o.comment.find("invalid SPF record") != std::string::npos);
}

TEST_CASE("the guard's bound covers what libspf2 compiles", "[spf]") {
    using auth::spf_guard::compiled_bound;
    using auth::spf_guard::kLimit;
    // Bound: 1.5 bytes per character + 11 per block (2 per '%', plus 2).
    CHECK(compiled_bound("") == 22);
    CHECK(compiled_bound("ab") == 3 + 22);
    CHECK(compiled_bound("%{d}") == 6 + 44);
    // A 253-character domain without macros is well inside.
    CHECK(compiled_bound(std::string(253, 'a')) == 402);
    CHECK(compiled_bound(std::string(253, 'a')) <= kLimit);
    // The refusal threshold stays under libspf2's 508-byte underflow point.
    CHECK(kLimit < 508);

    struct Row {
        std::string record;
        bool refused;
    } rows[] = {
        {"v=spf1 -all", false},
        {"v=spf1 include:_spf.google.com ~all", false},
        {"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", false},
        {"v=spf1 a:" + std::string(240, 'a') + ".com -all", false},
        {hostile_record(), true},
        {"v=spf1 -all foo=" + repeat("%{d}", 30), true},             // modifiers too
        {"v=spf1 " + repeat("ip4:192.0.2.1 ", 60) + "-all", false},  // long records are fine
        {"not spf at all " + repeat("%{d}", 90), false},             // not compiled as a record
    };
    for (auto& r : rows) {
        INFO(r.record.substr(0, 60));
        CHECK(auth::spf_guard::check_record(r.record).has_value() == r.refused);
    }
    CHECK_FALSE(auth::spf_guard::check_explanation("See http://example.com/%{d}").has_value());
    CHECK(auth::spf_guard::check_explanation(repeat("%{d}", 40)).has_value());
    CHECK(auth::spf_guard::is_spf_record("V=SPF1 -all"));
    CHECK_FALSE(auth::spf_guard::is_spf_record("v=spf10 -all"));
}

TEST_CASE("SPF records are checked against the RFC 7208 grammar and normalised", "[spf]") {
    using auth::spf_record::normalize;
    struct Row {
        std::string in;
        bool v6;
        std::string out;  // "" = refused
    } rows[] = {
        {"v=spf1 -all", false, "v=spf1 -all"},
        {"v=spf1  ip4:192.0.2.0/24   mx -all ", false, "v=spf1 ip4:192.0.2.0/24 mx -all"},
        {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", false, "v=spf1 ip4:1.2.3.4 -all"},
        {"v=spf1 redirect=a.example ip4:1.2.3.4", false, "v=spf1 ip4:1.2.3.4 redirect=a.example"},
        {"v=spf1 redirect=a.example ~all", false, "v=spf1 ~all"},
        {"v=spf1 ip4:1.1.1.1/0 -all", false, "v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all"},
        {"v=spf1 -ip6:::1/0", true, "v=spf1 -ip6:::/1 -ip6:8000::/1"},
        {"v=spf1 a/0 -all", false, "v=spf1 exists:%{d}._a4.sesmilter-cidr0.invalid -all"},
        {"v=spf1 a/0 -all", true, "v=spf1 a -all"},
        {"v=spf1 mx:foo.example//0", true, "v=spf1 exists:foo.example._mx6.sesmilter-cidr0.invalid"},
        {"v=spf1 a:foo:bar/baz.example.com", false, "v=spf1 a:foo:bar/baz.example.com"},
        {"v=spf1 a:example.com/24//64", false, "v=spf1 a:example.com/24//64"},
        {"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", false, "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all"},
        {"v=spf1 -all exp=explain.%{d}", false, "v=spf1 -all exp=explain.%{d}"},
        {"v=spf1 a:museum", false, ""},
        {"v=spf1 a:museum.", false, ""},
        {"v=spf1 a:111.222.33.44", false, ""},
        {"v=spf1 a:example.-com", false, ""},
        {"v=spf1 a:", false, ""},
        {"v=spf1 ptr:", false, ""},
        {"v=spf1 exists:mail.example.com/24", false, ""},
        {"v=spf1 ip4:1.2.3.4/032 -all", false, ""},
        {"v=spf1 ip4:1.2.3.4/33 -all", false, ""},
        {"v=spf1 ip6::CAFE::BABE", false, ""},
        {"v=spf1 redirect=a.example -all redirect=a.example", false, ""},
        {"v=spf1 exp=a.example -all exp=b.example", false, ""},
        {"v=spf1 exp= -all", false, ""},
        {"v=spf1 -all exp=%{r}.example.com", false, ""},  // r only in explanation text
        {"v=spf1 -all foo=%abc", false, ""},
        {"v=spf1 exists:foo%(ir).sbl.example.com ?all", false, ""},
        {"v=spf1 a:%{d0}.example.com", false, ""},
        {"v=spf1 redirect:t2.example.com", false, ""},
        {"v=spf1 \x80"
         "a:example.net -all",
         false, ""},
        {"v=spf1 a:ctrl.example.com\rptr -all", false, ""},
        {"v=spf1 1up=foo", false, ""},
        {"v=spf1 =all", false, ""},
    };
    for (auto& r : rows) {
        INFO(r.in << (r.v6 ? " (IPv6 client)" : ""));
        auto n = normalize(r.in, r.v6);
        if (r.out.empty()) {
            CHECK_FALSE(n.ok);
            CHECK_FALSE(n.error.empty());
        } else {
            CHECK(n.ok);
            CHECK(n.record == r.out);
        }
    }
}

TEST_CASE("zero-CIDR markers and name truncation", "[spf]") {
    using namespace auth::spf_record;
    auto m = marker_query("Foo.Example._mx6.sesmilter-cidr0.invalid.");
    REQUIRE(m);
    CHECK(m->domain == "foo.example");
    CHECK(m->kind == "mx6");
    CHECK_FALSE(marker_query("foo.example._zz.sesmilter-cidr0.invalid"));
    CHECK_FALSE(marker_query("foo.example.com"));

    std::string long_name;
    for (int i = 0; i < 40; ++i) long_name += "label" + std::to_string(i) + ".";
    long_name += "example.com";
    std::string t = truncate_name(long_name);
    CHECK(t.size() <= 253);
    CHECK(long_name.size() > 253);
    CHECK(long_name.compare(long_name.size() - t.size(), t.size(), t) == 0);  // the right side stays
    CHECK(truncate_name("example.com") == "example.com");
}
