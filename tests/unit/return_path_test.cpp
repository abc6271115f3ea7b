// return_path_test.cpp -- message ids and return-path tags.
#include <catch2/catch.hpp>
#include <set>

#include "records/return_path.hpp"
#include "util/strings.hpp"

using namespace ses;
using namespace ses::records;

TEST_CASE("Message ids are unique, lower case, and carry their time") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        std::string id = new_message_id(1796311484123);
        CHECK(id.size() == 26);
        CHECK(id == str::lower(id));
        CHECK(message_id_time(id) == std::optional<int64_t>(1796311484123));
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
    CHECK_FALSE(message_id_time("not-an-id"));
}

TEST_CASE("Tags round-trip, survive case changes, and refuse forgeries") {
    TagKeys keys;
    keys.current = 2;
    keys.secret = {{1, "old secret"}, {2, "new secret"}};
    Tag t{new_message_id(1796311484000), 3, 7};
    std::string tag = make_tag(t, keys);
    CHECK(tag.size() == 46);
    CHECK(tag.size() <= 64);
    auto back = decode_tag(tag, keys);
    REQUIRE(back);
    CHECK(back->message_id == t.message_id);
    CHECK(back->recipient == std::optional<uint16_t>(3));
    CHECK(back->pool == 7);
    // Mailbox providers may upper-case the local part.
    std::string upper = tag;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(decode_tag(upper, keys));
    // Every single-character change is refused.
    for (size_t i = 1; i < tag.size(); ++i) {
        std::string f = tag;
        f[i] = f[i] == 'a' ? 'b' : 'a';
        CHECK_FALSE(decode_tag(f, keys));
    }
    CHECK_FALSE(decode_tag(tag.substr(0, 40), keys));
    CHECK_FALSE(decode_tag("bounce", keys));
    // A tag made under key 1 still validates while key 1 is listed, not after.
    TagKeys old = keys;
    old.current = 1;
    std::string t1 = make_tag(Tag{t.message_id, std::nullopt, 0}, old);
    auto d1 = decode_tag(t1, keys);
    REQUIRE(d1);
    CHECK_FALSE(d1->recipient);
    keys.secret.erase(1);
    CHECK_FALSE(decode_tag(t1, keys));
    // Another installation's secret: refused.
    TagKeys other{2, {{2, "someone else"}}};
    CHECK_FALSE(decode_tag(tag, other));
}
