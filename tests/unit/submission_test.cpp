// submission_test.cpp -- the X-SES-Submission header and the SMTP address
// parser of the submitter.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "records/return_path.hpp"
#include "records/submission_id.hpp"
#include "services/smtp_submit.hpp"
#include "temp_records.hpp"

using namespace ses;

TEST_CASE("a submission header names its id only for its own recipients", "[submission]") {
    std::string key(32, 'k');
    std::string id = records::new_message_id(1700000000000);
    std::vector<std::string> rcpts{"Bob@Example.com", "alice@example.com"};
    std::string h = records::make_submission(key, id, rcpts);

    auto ok = records::check_submission(key, h, rcpts);
    REQUIRE(ok);
    CHECK(ok->id == id);
    CHECK_FALSE(ok->unsubscribe);
    // Order and case of the MTA's recipient list do not matter.
    std::vector<std::string> mta{"alice@example.com", "bob@example.com"};
    CHECK(records::check_submission(key, h, mta)->id == id);
    // Another recipient list, another key, an altered id or MAC: refused.
    std::vector<std::string> other{"carol@example.com"};
    CHECK_FALSE(records::check_submission(key, h, other));
    CHECK_FALSE(records::check_submission(std::string(32, 'x'), h, rcpts));
    std::string altered = h;
    altered[altered.find("id=") + 3] = altered[altered.find("id=") + 3] == 'a' ? 'b' : 'a';
    CHECK_FALSE(records::check_submission(key, altered, rcpts));
    std::string bad_mac = h;
    bad_mac.back() = bad_mac.back() == '0' ? '1' : '0';
    CHECK_FALSE(records::check_submission(key, bad_mac, rcpts));
    CHECK_FALSE(records::check_submission(key, "v1; id=" + id, rcpts));
    CHECK_FALSE(records::check_submission(key, "", rcpts));
    // Not a message id, even with a valid MAC over it.
    std::string not_id = records::make_submission(key, "hello", rcpts);
    CHECK_FALSE(records::check_submission(key, not_id, rcpts));
}

TEST_CASE("the unsubscribe flag of a submission is covered by its MAC", "[submission]") {
    std::string key(32, 'k');
    std::string id = records::new_message_id(1700000000000);
    std::vector<std::string> rcpts{"bob@example.com"};
    std::string with = records::make_submission(key, id, rcpts, true);
    auto got = records::check_submission(key, with, rcpts);
    REQUIRE(got);
    CHECK(got->unsubscribe);
    // Taking the flag off, or putting it on a header made without it: refused.
    std::string stripped = with;
    stripped.erase(stripped.find("; unsub=1"), 9);
    CHECK_FALSE(records::check_submission(key, stripped, rcpts));
    std::string without = records::make_submission(key, id, rcpts);
    std::string added = without;
    added.insert(added.find("; mac="), "; unsub=1");
    CHECK_FALSE(records::check_submission(key, added, rcpts));
    std::string other = with;
    other.replace(other.find("unsub=1"), 7, "unsub=2");
    CHECK_FALSE(records::check_submission(key, other, rcpts));
}

TEST_CASE("the submission key is made once per store and kept", "[submission]") {
    test::TempRecords t("submission");
    auto a = records::submission_key(*t.env);
    REQUIRE(a);
    CHECK(a->size() == 32);
    auto b = records::submission_key(*t.env);
    REQUIRE(b);
    CHECK(*a == *b);
}

TEST_CASE("SMTP submission addresses", "[submission]") {
    services::SubmitConf c;
    REQUIRE(services::parse_smtp_address("127.0.0.1:2525", c));
    CHECK(c.host == "127.0.0.1");
    CHECK(c.port == 2525);
    REQUIRE(services::parse_smtp_address("localhost", c));
    CHECK(c.host == "localhost");
    CHECK(c.port == 25);
    REQUIRE(services::parse_smtp_address("[::1]:587", c));
    CHECK(c.host == "[::1]");
    CHECK(c.port == 587);
    CHECK_FALSE(services::parse_smtp_address("::1:25", c));
    CHECK_FALSE(services::parse_smtp_address("127.0.0.1:0", c));
    CHECK_FALSE(services::parse_smtp_address("127.0.0.1:x", c));
    CHECK_FALSE(services::parse_smtp_address(":25", c));
    CHECK_FALSE(services::parse_smtp_address("[::1", c));
}
