// groups_test.cpp -- the CSV and JSON group imports (pure) and the group
// store: limits, de-duplication, replacement, export round trip.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "records/groups.hpp"
#include "temp_records.hpp"

using namespace ses;
using records::GroupLimits;
using records::parse_group_csv;
using records::parse_group_json;

namespace {
nlohmann::json data_of(const records::GroupRow& r) { return nlohmann::json::parse(r.data); }
}  // namespace

TEST_CASE("CSV import: header, variables, RFC 4180 quoting", "[groups]") {
    auto p = parse_group_csv(
        "\xEF\xBB\xBF"
        "name,Email,city\r\n"
        "Ana,ana@example.org,Lisboa\r\n"
        "\"Smith, John\",John@Example.org,\"He said \"\"hi\"\"\"\n"
        "\"two\nlines\",two@example.org,x\n"
        "\n"
        "Zoe,zoe@example.org,",
        {});
    REQUIRE(p.errors.empty());
    CHECK(p.columns == std::vector<std::string>{"name", "city"});
    REQUIRE(p.rows.size() == 4);
    CHECK(p.rows[0].email == "ana@example.org");
    CHECK(data_of(p.rows[0]) == nlohmann::json{{"name", "Ana"}, {"city", "Lisboa"}});
    CHECK(data_of(p.rows[1])["name"] == "Smith, John");
    CHECK(data_of(p.rows[1])["city"] == "He said \"hi\"");
    CHECK(p.rows[1].line == 3);
    CHECK(data_of(p.rows[2])["name"] == "two\nlines");
    CHECK(p.rows[2].line == 4);
    // The quoted line break moved the line count on: Zoe is on line 7.
    CHECK(p.rows[3].line == 7);
    CHECK(data_of(p.rows[3])["city"] == "");
}

TEST_CASE("CSV import: bad rows are reported with their line numbers, good ones kept", "[groups]") {
    GroupLimits lim;
    lim.max_row_bytes = 64;
    auto p = parse_group_csv(
        "email,v\n"
        "ok@example.org,1\n"
        "not-an-address,2\n"
        "three@example.org,3,extra\n"
        "four@example.org,ab\"c\n"
        "five@example.org," +
            std::string(80, 'x') +
            "\n"
            "OK@example.org,dup\n"
            "six@example.org,\"open\n",
        lim);
    REQUIRE(p.rows.size() == 1);
    CHECK(p.rows[0].email == "ok@example.org");
    CHECK(p.duplicates == 1);
    REQUIRE(p.errors.size() == 5);
    CHECK(p.errors[0].line == 3);
    CHECK_THAT(p.errors[0].message, Catch::Contains("not an email address"));
    CHECK(p.errors[1].line == 4);
    CHECK_THAT(p.errors[1].message, Catch::Contains("3 fields, the header has 2"));
    CHECK(p.errors[2].line == 5);
    CHECK_THAT(p.errors[2].message, Catch::Contains("quote"));
    CHECK(p.errors[3].line == 6);
    CHECK_THAT(p.errors[3].message, Catch::Contains("longer than 64 bytes"));
    CHECK(p.errors[4].line == 8);
    CHECK_THAT(p.errors[4].message, Catch::Contains("not closed"));
}

TEST_CASE("CSV import: header problems stop the import", "[groups]") {
    CHECK_THAT(parse_group_csv("name,city\na,b\n", {}).errors.at(0).message, Catch::Contains("no column named email"));
    CHECK_THAT(parse_group_csv("email,email\n", {}).errors.at(0).message, Catch::Contains("two columns named email"));
    CHECK_THAT(parse_group_csv("email,,x\n", {}).errors.at(0).message, Catch::Contains("has no name"));
    CHECK_THAT(parse_group_csv("email,a,a\n", {}).errors.at(0).message, Catch::Contains("two columns named a"));
    CHECK(parse_group_csv("", {}).errors.size() == 1);
    auto only = parse_group_csv("email\nx@example.org\n", {});
    REQUIRE(only.rows.size() == 1);
    CHECK(only.rows[0].data == "{}");
}

TEST_CASE("CSV import: the row limit stops the import and says so", "[groups]") {
    GroupLimits lim;
    lim.max_rows = 2;
    auto p = parse_group_csv("email\na@x.org\nb@x.org\nc@x.org\n", lim);
    CHECK(p.rows.size() == 2);
    CHECK(p.truncated);
}

TEST_CASE("JSON import: Datas with TemplateData as a string or an object", "[groups]") {
    auto p = parse_group_json(
        R"({"Datas": [{"Email": "a@x.org", "TemplateData": "{\"n\":\"A\"}"},
                      {"Email": "b@x.org", "TemplateData": {"n": "B"}},
                      {"Email": "c@x.org"},
                      {"Email": "bad"},
                      {"Email": "d@x.org", "TemplateData": "[1]"},
                      {"Mail": "e@x.org"},
                      {"Email": "A@x.org"}]})",
        {});
    REQUIRE(p.rows.size() == 3);
    CHECK(data_of(p.rows[0])["n"] == "A");
    CHECK(data_of(p.rows[1])["n"] == "B");
    CHECK(p.rows[2].data == "{}");
    CHECK(p.duplicates == 1);
    REQUIRE(p.errors.size() == 3);
    CHECK(p.errors[0].line == 4);
    CHECK(p.errors[1].line == 5);
    CHECK(p.errors[2].line == 6);
    CHECK(parse_group_json("[]", {}).errors.size() == 1);
}

TEST_CASE("member_key accepts plain addresses only", "[groups]") {
    CHECK(records::member_key(" Ana@Example.ORG ") == "ana@example.org");
    for (const char* bad : {"", "a", "@x.org", "a@", "a@b@c", "a b@x.org", "<a@x.org>", "a@x..org", "a@.x.org",
                            "a,b@x.org", "\"a\"@x.org"})
        CHECK(records::member_key(bad).empty());
}

TEST_CASE("Groups: create, import, replace, limits, remove members, export, delete", "[groups]") {
    test::TempRecords t("groups");
    GroupLimits lim;
    lim.max_rows = 3;
    records::Groups g(t.env, lim);
    auto id = g.create("news", 100);
    REQUIRE(id);
    CHECK_FALSE(g.create("news", 100));
    auto other = g.create("other", 100);
    REQUIRE(other);
    CHECK(*other == *id + 1);

    auto p = parse_group_csv("email,name\na@x.org,\"A, a\"\nb@x.org,B\n", lim);
    auto rep = g.add(*id, p.rows);
    REQUIRE(rep);
    CHECK(rep->added == 2);
    auto again = g.add(*id, parse_group_csv("email,name\nA@x.org,A2\n", lim).rows);
    REQUIRE(again);
    CHECK(again->replaced == 1);
    CHECK(again->added == 0);
    // Two more would make four: refused whole.
    auto over = g.add(*id, parse_group_csv("email\nc@x.org\nd@x.org\n", lim).rows);
    REQUIRE_FALSE(over);
    CHECK_THAT(over.error().what, Catch::Contains("tasks.max_rows"));
    CHECK((*g.get(*id))->count == 2);
    CHECK_FALSE(g.add(999, p.rows));

    auto csv = g.export_csv(*id);
    REQUIRE(csv);
    CHECK(*csv == "email,name\r\nA@x.org,A2\r\nb@x.org,B\r\n");
    auto round = parse_group_csv(*csv, lim);
    CHECK(round.rows.size() == 2);

    {
        auto txn = t.env->begin_read();
        REQUIRE(txn);
        auto first = g.members(*txn, *id, "", 1);
        REQUIRE(first.size() == 1);
        CHECK(first[0].key == "a@x.org");
        auto rest = g.members(*txn, *id, first[0].key, 10);
        REQUIRE(rest.size() == 1);
        CHECK(rest[0].key == "b@x.org");
        CHECK(g.members(*txn, *id, "b@x.org", 10).empty());
    }
    auto gone = g.remove_members(*id, {"B@X.org", "nobody@x.org"});
    REQUIRE(gone);
    CHECK(*gone == 1);
    CHECK((*g.get(*id))->count == 1);
    REQUIRE(g.remove(*id));
    CHECK_FALSE(*g.get(*id));
    CHECK_FALSE(g.remove(*id));
    auto txn = t.env->begin_read();
    REQUIRE(txn);
    CHECK(g.members(*txn, *id, "", 10).empty());
    CHECK(g.list()->size() == 1);
}
