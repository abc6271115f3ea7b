// util_test.cpp -- sizes, durations, clock parsing, string helpers.
#include <catch2/catch.hpp>

#include "util/clock.hpp"
#include "util/roff.hpp"
#include "util/strings.hpp"

using namespace ses;

TEST_CASE("sizes parse with decimal and binary units") {
    CHECK(str::parse_size("10MB") == 10000000u);
    CHECK(str::parse_size("10 mb") == 10000000u);
    CHECK(str::parse_size("64KiB") == 65536u);
    CHECK(str::parse_size("1234") == 1234u);
    CHECK_FALSE(str::parse_size("ten MB"));
    CHECK_FALSE(str::parse_size("10XB"));
    CHECK_FALSE(str::parse_size("99999999999999999999GB"));
}

TEST_CASE("durations parse") {
    CHECK(str::parse_duration("24h") == 86400);
    CHECK(str::parse_duration("90") == 90);
    CHECK(str::parse_duration("2d") == 172800);
    CHECK_FALSE(str::parse_duration("h"));
}

TEST_CASE("RFC 3339 times round-trip and honour offsets") {
    CHECK(clock::parse_rfc3339("1970-01-01T00:00:00Z") == 0);
    CHECK(clock::parse_rfc3339("2026-11-23T12:00:00+02:00") == clock::parse_rfc3339("2026-11-23T10:00:00Z"));
    CHECK(clock::parse_rfc3339("2026-11-23") == clock::parse_rfc3339("2026-11-23T00:00:00Z"));
    CHECK_FALSE(clock::parse_rfc3339("2026-11-23T10:00:00"));
    CHECK_FALSE(clock::parse_rfc3339("2026-13-01T00:00:00Z"));
    CHECK(clock::format_rfc3339(*clock::parse_rfc3339("2026-11-23T10:11:12Z")) == "2026-11-23T10:11:12Z");
}

TEST_CASE("clock override pins now") {
    clock::set_override(1000);
    CHECK(clock::now() == 1000);
    clock::set_override(std::nullopt);
    CHECK(clock::now() > 1700000000);
}

TEST_CASE("domain label matching") {
    CHECK(str::ends_with_label("news.example.com", "example.com"));
    CHECK(str::ends_with_label("a.b.EXAMPLE.com", "example.com"));
    CHECK_FALSE(str::ends_with_label("badexample.com", "example.com"));
    CHECK_FALSE(str::ends_with_label("example.com", "example.com"));
}

TEST_CASE("roff text: lists of choices get break points, dashes and leading dots are escaped") {
    // "a|b|c" is one word to troff: a long list of choices could not be
    // adjusted ("cannot adjust line"); \: lets it break after each bar.
    CHECK(ses::roff::text("--type a|b") == "\\-\\-type a|\\:b");
    CHECK(ses::roff::text(".x") == "\\&.x");
    CHECK(ses::roff::text("`sesctl`") == "\\fBsesctl\\fR");
}
