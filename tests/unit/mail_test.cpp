// mail_test.cpp -- header checks, size accounting, addresses, edits.
#include <catch2/catch.hpp>

#include "mail/address.hpp"
#include "mail/header_check.hpp"
#include "mail/message.hpp"
#include "mail/size_guard.hpp"

using namespace ses;

namespace {
mail::Message with_headers(std::initializer_list<std::pair<const char*, const char*>> hs) {
    mail::Message m;
    for (auto& [n, v] : hs) m.feed_header(n, v);
    return m;
}
}  // namespace

TEST_CASE("header block checks", "[mail]") {
    struct Case {
        mail::Message msg;
        std::string expect;  // "" = ok, else a substring of the reply text
    };
    std::vector<Case> cases = {
        {with_headers({{"From", " a@example.com"}, {"Subject", " hi"}}), ""},
        {with_headers({{"From", " \"A, B\" <a@example.com>"}}), ""},
        {with_headers({{"Subject", " hi"}}), "no From: header field"},
        {with_headers({{"From", " a@example.com"}, {"From", " b@evil.test"}}), "2 From: header fields"},
        {with_headers({{"From", " a@example.com"}, {"Subject", " 1"}, {"Subject", " 2"}}), "2 Subject: header fields"},
        {with_headers({{"From", " undisclosed"}}), "From: header field names no mailbox"},
        {with_headers({{"From", " a@example.com"}, {"Bad Name", " x"}}), "invalid character"},
        {with_headers({{"From", " a@example.com"}, {"X-Long", std::string(1200, 'a').c_str()}}), "longer than 998"},
        {with_headers({{"From", " a@example.com"},
                       {"X-Folded", (std::string(900, 'a') + "\n\t" + std::string(900, 'b')).c_str()}}),
         ""},
    };
    for (auto& c : cases) {
        auto st = mail::check_headers(c.msg);
        if (c.expect.empty()) {
            CHECK(st.ok());
        } else {
            REQUIRE_FALSE(st.ok());
            CHECK(st.error().reply.code == "554");
            CHECK(st.error().reply.xcode == "5.6.0");
            INFO(st.error().reply.text);
            CHECK(st.error().reply.text.find(c.expect) != std::string::npos);
        }
    }
}

TEST_CASE("size guard trips on the first byte past the limit", "[mail]") {
    mail::SizeGuard g(100);
    CHECK(g.add_header("From", " a@b"));  // "From: a@b\r\n" = 11
    CHECK(g.used() == 11);
    CHECK(g.add_separator());  // "\r\n" = 13
    CHECK(g.add_body(87));     // exactly 100
    CHECK_FALSE(g.over());
    CHECK_FALSE(g.add_body(1));
    CHECK(g.over());
    g.reset(10);
    CHECK(g.used() == 0);
    // A fold passed as a bare LF counts as CRLF; an existing CRLF once.
    mail::SizeGuard f(1000);
    CHECK(f.add_header("S", " a\n b\r\n c\n"));  // "S:" 2 + 10 octets + 2 bare LFs + CRLF 2
    CHECK(f.used() == 16);
    CHECK(f.add_header("T", "\n\nx"));  // 2 + 3 octets + 2 bare LFs + 2
    CHECK(f.used() == 25);
}

TEST_CASE("addresses and domains", "[mail]") {
    CHECK(mail::mailboxes("\"Doe, John\" <John@Example.COM>") == std::vector<std::string>{"John@Example.COM"});
    CHECK(mail::mailboxes("a@x.test, group: b@y.test, c@z.test;").size() == 3);
    CHECK(mail::domain_of("<user@Example.COM>") == "example.com");
    CHECK(mail::domain_of("") == "");
    CHECK(mail::domain_of("nodomain") == "");
    CHECK(mail::strip_brackets("<a@b>") == "a@b");
}

TEST_CASE("mailboxes: the last parse kept per thread answers exactly as a new parse", "[mail]") {
    // Repeats, alternations, a value that does not parse and one that only
    // differs in case: each answer must be that of its own input.
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"a@x.test", {"a@x.test"}},
        {"a@x.test", {"a@x.test"}},
        {"A@x.test", {"A@x.test"}},
        {"", {}},
        {"Sender <s@example.com>, b@y.test", {"s@example.com", "b@y.test"}},
        {"a@x.test", {"a@x.test"}},
        {"Sender <s@example.com>, b@y.test", {"s@example.com", "b@y.test"}},
        {"Sender <s@example.com>", {"s@example.com"}},
    };
    for (int round = 0; round < 2; ++round)
        for (const auto& [in, want] : cases) {
            INFO(in);
            CHECK(mail::mailboxes(in) == want);
        }
}

TEST_CASE("edits are recorded in order and mirrored in the model", "[mail]") {
    auto m = with_headers({{"From", " a@example.com"}, {"X-SES-Template", " t"}, {"X-SES-Template", " u"}});
    m.insert_header(0, "DKIM-Signature", "v=1");
    m.delete_all("X-SES-Template");
    m.change_header("Subject", 1, "new");  // absent: added
    REQUIRE(m.edits().size() == 4);
    CHECK(m.edits()[0].kind == mail::Edit::Kind::insert_header);
    CHECK(m.edits()[1].kind == mail::Edit::Kind::delete_header);
    CHECK(m.edits()[1].index == 2);  // last occurrence first
    CHECK(m.edits()[2].index == 1);
    CHECK(m.count("X-SES-Template") == 0);
    CHECK(m.headers().front().name == "DKIM-Signature");
    CHECK(m.value("Subject") == "new");
    CHECK(mail::unfold(" a\r\n\tb ") == "a b");
}
