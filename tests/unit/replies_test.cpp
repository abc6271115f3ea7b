// replies_test.cpp -- the one reply table: every entry a well-formed SMTP
// reply, details made one printable line, the generated reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "mail/replies.hpp"

using namespace ses;

TEST_CASE("every reply in the table is a well-formed SMTP reply", "[mail][replies]") {
    std::set<std::string> names;
    for (auto& s : mail::reply_table()) {
        INFO(s.name);
        CHECK(names.insert(s.name).second);
        CHECK(&mail::reply_spec(s.reason) == &s);
        std::string code = s.code, xcode = s.xcode, text = s.text;
        REQUIRE(code.size() == 3);
        CHECK((code[0] == '4' || code[0] == '5'));
        CHECK(std::isdigit(static_cast<unsigned char>(code[1])));
        CHECK(std::isdigit(static_cast<unsigned char>(code[2])));
        // RFC 3463: class.subject.detail, the class agreeing with the reply code.
        REQUIRE(xcode.size() >= 5);
        CHECK(xcode[0] == code[0]);
        CHECK(xcode[1] == '.');
        CHECK(std::count(xcode.begin(), xcode.end(), '.') == 2);
        CHECK(xcode.find_first_not_of("0123456789.") == std::string::npos);
        CHECK(text.find_first_of("\r\n%") == std::string::npos);
        CHECK(!text.empty());
        size_t holes = 0;
        for (size_t p = text.find("{}"); p != std::string::npos; p = text.find("{}", p + 2)) ++holes;
        CHECK(holes <= 1);
        CHECK(std::string(s.when).size() > 10);
        Reply r = mail::make_reply(s.reason, "a\r\nb\tc\x01");
        CHECK(r.code == code);
        CHECK(r.xcode == xcode);
        CHECK(r.text.find_first_of("\r\n\t\x01") == std::string::npos);
        CHECK(r.text.find("{}") == std::string::npos);
        CHECK(r.permanent() == (code[0] == '5'));
    }
    CHECK(names.size() == mail::reply_table().size());  // names are unique
}

TEST_CASE("make_reply fills the one detail", "[mail][replies]") {
    Reply r = mail::make_reply(mail::ReplyReason::message_too_large, "65536");
    CHECK(r.str() == "552 5.3.4 message size exceeds fixed maximum message size of 65536 bytes");
    CHECK(mail::make_reply(mail::ReplyReason::internal_failure, "ignored").text ==
          "temporary failure in sesmilter, try again later");
    Error e = mail::error_for(mail::ReplyReason::malformed_message, "two From: headers", "log text");
    CHECK(e.reply.str() == "554 5.6.0 malformed message: two From: headers");
    CHECK(e.what == "log text");
    CHECK(mail::replies_markdown().find("| `dns_temporary` | 451 | 4.4.3 |") != std::string::npos);
}
