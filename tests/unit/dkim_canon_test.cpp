// dkim_canon_test.cpp -- RFC 6376 section 3.4 canonicalisation and the
// choice of signed header fields (src/dkim/canon.hpp).
#include <catch2/catch.hpp>

#include <random>

#include <openssl/evp.h>

#include "dkim/canon.hpp"

using namespace ses;
using dkim::Canon;

namespace {

std::string body_canon(Canon c, const std::vector<std::string_view>& chunks) {
    std::string out;
    dkim::BodyCanon b(c, [&](std::string_view s) { out.append(s); });
    for (auto ch : chunks) b.feed(ch);
    b.finish();
    CHECK(b.length() == out.size());
    return out;
}
std::string body_canon(Canon c, std::string_view body) { return body_canon(c, std::vector<std::string_view>{body}); }

std::string header_canon(Canon c, std::string_view name, std::string_view value) {
    std::string out;
    dkim::canon_header(c, name, value, out);
    return out;
}

}  // namespace

TEST_CASE("canon: the RFC 6376 3.4.5 example", "[dkim][canon]") {
    // A: <SP> X <CRLF>, B <SP> : <SP> Y <HTAB><CRLF> <HTAB> Z <SP><SP><CRLF>,
    // body <SP> C <SP><CRLF> D <SP><HTAB><SP> E <CRLF><CRLF><CRLF>.
    const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
    CHECK(header_canon(Canon::relaxed, "A", " X") == "a:X\r\n");
    CHECK(header_canon(Canon::relaxed, "B ", " Y\t\r\n\tZ  ") == "b:Y Z\r\n");
    CHECK(body_canon(Canon::relaxed, body) == " C\r\nD E\r\n");
    CHECK(header_canon(Canon::simple, "A", " X") == "A: X\r\n");
    CHECK(header_canon(Canon::simple, "B ", " Y\t\r\n\tZ  ") == "B : Y\t\r\n\tZ  \r\n");
    CHECK(body_canon(Canon::simple, body) == " C \r\nD \t E\r\n");
}

TEST_CASE("canon: header values as the milter gives them", "[dkim][canon]") {
    // Folded lines come with bare LF; the hashed form has CRLF, never a
    // doubled CR.
    CHECK(header_canon(Canon::simple, "Subject", " a\n\tb\r\n c") == "Subject: a\r\n\tb\r\n c\r\n");
    CHECK(header_canon(Canon::simple, "To", "\n b@x") == "To:\r\n b@x\r\n");
    CHECK(header_canon(Canon::simple, "Cc", " c,\n\n d") == "Cc: c,\r\n\r\n d\r\n");
    CHECK(header_canon(Canon::relaxed, "SUBJECT", " \t a \t\n\t b  \t") == "subject:a b\r\n");
    CHECK(header_canon(Canon::relaxed, "X", "") == "x:\r\n");
    CHECK(header_canon(Canon::relaxed, "X", " \t ") == "x:\r\n");
    CHECK(header_canon(Canon::relaxed, "X", "\n\tv") == "x:v\r\n");
}

TEST_CASE("canon: body tables", "[dkim][canon]") {
    struct Row {
        std::string in, simple, relaxed;
    };
    std::vector<Row> rows = {
        {"", "\r\n", ""},
        {"\r\n", "\r\n", ""},
        {"\r\n\r\n\r\n", "\r\n", ""},
        {"a\r\n", "a\r\n", "a\r\n"},
        {"a", "a\r\n", "a\r\n"},  // the missing CRLF is added
        {"a \t", "a \t\r\n", "a\r\n"},
        {"a\r\n\r\n", "a\r\n", "a\r\n"},
        {"a\r\n \r\n\t\r\n", "a\r\n \r\n\t\r\n", "a\r\n"},    // WSP-only lines are empty for relaxed
        {"\r\n\r\na\r\n", "\r\n\r\na\r\n", "\r\n\r\na\r\n"},  // leading empty lines stay
        {"a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
        {" \t a  b\t\r\n", " \t a  b\t\r\n", " a b\r\n"},
        {"a\tb\r\n", "a\tb\r\n", "a b\r\n"},
        // Bare CR and bare LF are octets of the line (RFC 6376: lines end at CRLF).
        {"a\nb\r\n", "a\nb\r\n", "a\nb\r\n"},
        {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},
        {"a\r\r\nb\r\n", "a\r\r\nb\r\n", "a\r\r\nb\r\n"},
        {"a \r\n", "a \r\n", "a\r\n"},
        {"a\r", "a\r\r\n", "a\r\r\n"},
        {"a\n", "a\n\r\n", "a\n\r\n"},
    };
    for (auto& r : rows) {
        INFO("body [" << r.in << "]");
        CHECK(body_canon(Canon::simple, r.in) == r.simple);
        CHECK(body_canon(Canon::relaxed, r.in) == r.relaxed);
    }
}

TEST_CASE("canon: every split point of a body gives the same output", "[dkim][canon]") {
    std::vector<std::string> bodies = {
        " C \r\nD \t E\r\n\r\n\r\n",
        "a\r\n\r\n \t \r\n\r\nb  \t\r\n\r\n",
        "x\ry\r\r\n\n \r\n\t\t",
        "\r\n\r\n",
        "line one\r\nline  two \r\n\r\n\r\nthree\t\r\n",
    };
    for (auto& b : bodies) {
        for (Canon c : {Canon::simple, Canon::relaxed}) {
            const std::string whole = body_canon(c, b);
            for (size_t i = 0; i <= b.size(); ++i)
                for (size_t j = i; j <= b.size(); ++j) {
                    std::string_view v(b);
                    INFO("body [" << b << "] split at " << i << ", " << j);
                    REQUIRE(body_canon(c, {v.substr(0, i), v.substr(i, j - i), v.substr(j)}) == whole);
                }
            // A byte at a time, with empty chunks between.
            std::vector<std::string_view> bytes;
            for (size_t i = 0; i < b.size(); ++i) {
                bytes.push_back(std::string_view(b).substr(i, 1));
                bytes.push_back({});
            }
            CHECK(body_canon(c, bytes) == whole);
        }
    }
}

TEST_CASE("canon: large bodies reach the sink in spans", "[dkim][canon]") {
    std::string body;
    std::mt19937 rng(7);
    const char alphabet[] = "abc \t\r\n";
    while (body.size() < 200000) body += alphabet[rng() % 7];
    for (Canon c : {Canon::simple, Canon::relaxed}) {
        size_t calls = 0;
        std::string out;
        dkim::BodyCanon b(c, [&](std::string_view s) {
            ++calls;
            out.append(s);
        });
        for (size_t off = 0; off < body.size(); off += 4093) b.feed(std::string_view(body).substr(off, 4093));
        b.finish();
        CHECK(out == body_canon(c, body));
        CHECK(calls <= body.size() / dkim::BodyCanon::kSpan + 2);
    }
}

TEST_CASE("canon: header selection, bottom-up, oversigned once more", "[dkim][canon]") {
    std::vector<dkim::HeaderField> f = {
        {"Received", " x"}, {"From", " a@x"}, {"Subject", " s"}, {"To", " t"}, {"from", " b@x"}, {"X-Other", " o"},
    };
    auto sel = dkim::select_headers(f, {"From", "Subject", "To", "List-Unsubscribe"}, {"From", "List-Unsubscribe"});
    // h= lists the message's fields in order, as spelled, then one more of
    // each oversigned name (present or not).
    CHECK(sel.names == std::vector<std::string>{"From", "Subject", "To", "from", "From", "List-Unsubscribe"});
    // Hashed: From -> the last From (index 4), Subject, To, from -> index 1;
    // the extra From and the absent List-Unsubscribe hash nothing.
    CHECK(sel.order == std::vector<size_t>{4, 2, 3, 1});
    auto none = dkim::select_headers(f, {"Date"}, {});
    CHECK(none.names.empty());
    CHECK(none.order.empty());
}
