// body_test.cpp -- mail::Body (memory, then spool file; line tracking) and
// mail::fix_long_lines (re-encode or refuse lines over 998 octets).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "mail/body.hpp"
#include "mail/long_lines.hpp"
#include "mail/message.hpp"

using namespace ses;

namespace {

std::string line(size_t n, char c = 'a') { return std::string(n, c) + "\r\n"; }

// A small quoted-printable decoder, independent of GMime.
std::string qp_decode(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '=') {
            out += in[i];
            continue;
        }
        if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            i += 2;
            continue;
        }
        if (i + 2 < in.size()) {
            out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        }
    }
    return out;
}

std::string section(const std::string& body, const std::string& start, const std::string& end) {
    size_t a = body.find(start);
    REQUIRE(a != std::string::npos);
    a += start.size();
    size_t b = body.find(end, a);
    REQUIRE(b != std::string::npos);
    return body.substr(a, b - a);
}

struct SpoolDir {
    std::string path;
    SpoolDir() {
        char t[] = "/tmp/sesspoolXXXXXX";
        REQUIRE(mkdtemp(t));
        path = t;
        mail::set_spool_settings({path, 4096});
    }
    ~SpoolDir() {
        mail::set_spool_settings({});
        std::filesystem::remove_all(path);
    }
};

}  // namespace

TEST_CASE("a body spools past the threshold and reads back in chunks", "[mail][body]") {
    SpoolDir dir;
    mail::Body b;
    std::string all;
    for (int i = 0; i < 100; ++i) {
        std::string chunk = line(97, static_cast<char>('a' + i % 26));
        b.append(chunk);
        all += chunk;
    }
    CHECK(b.size() == all.size());
    CHECK(b.spooled());
    // Unlinked: nothing in the directory.
    CHECK(std::filesystem::is_empty(dir.path));
    std::string back;
    int chunks = 0;
    REQUIRE(b.read([&](std::string_view c) {
                 back.append(c);
                 ++chunks;
                 return ok_status();
             }).ok());
    CHECK(back == all);
    CHECK(b.text().value() == all);
    mail::Body copy = b;
    CHECK(copy.text().value() == all);
    mail::Body small;
    small.append("hello\r\n");
    CHECK_FALSE(small.spooled());
    CHECK(small.text().value() == "hello\r\n");

    mail::Message m;
    unsigned long spooled = mail::spooled_bodies();
    m.feed_body(all);
    CHECK(mail::spooled_bodies() == spooled + 1);
    CHECK(m.body() == all);  // the whole text on demand, for rewriting stages
    CHECK(m.size() == all.size());
}

TEST_CASE("a spool directory that cannot be written fails the body, not silently", "[mail][body]") {
    CHECK_FALSE(mail::check_spool_directory("/nonexistent/spool").ok());
    mail::set_spool_settings({"/nonexistent/spool", 4096});
    mail::Body b;
    b.append(std::string(5000, 'x'));
    REQUIRE(b.failure());
    CHECK(b.failure()->what.find("/nonexistent/spool") != std::string::npos);
    CHECK_FALSE(b.read([](std::string_view) { return ok_status(); }).ok());
    mail::set_spool_settings({});
}

TEST_CASE("the longest line is tracked across chunk boundaries", "[mail][body]") {
    struct Case {
        std::vector<std::string> chunks;
        size_t longest;
    };
    std::vector<Case> cases = {
        {{}, 0},
        {{"abc\r\n"}, 3},
        {{"ab", "c\r", "\nde\r\n"}, 3},
        {{"abc\r", "\n", "abcdef"}, 6},  // last line without CRLF
        {{std::string(998, 'x') + "\r\n"}, 998},
        {{std::string(500, 'x'), std::string(499, 'x'), "\r\n"}, 999},
        {{"a\n", "bb\n"}, 2},  // bare LF
        {{"\r\n\r\n"}, 0},
    };
    for (auto& c : cases) {
        mail::Body b;
        for (auto& ch : c.chunks) b.append(ch);
        INFO(c.longest);
        CHECK(b.longest_line() == c.longest);
    }
    CHECK(mail::longest_line("a\r\nbbbb\r\ncc") == 4);
}

TEST_CASE("long text lines are re-encoded as quoted-printable; others refused", "[mail][long_lines]") {
    const std::string longtext(2000, 'x');
    const std::string longhtml = "<p>" + std::string(1990, 'y') + "</p>";

    SECTION("nothing to do: the body is not touched") {
        mail::Message m;
        m.feed_header("MIME-Version", " 1.0");
        m.feed_body(line(998));
        REQUIRE(mail::fix_long_lines(m, mail::LongLinePolicy::reencode).ok());
        CHECK(m.edits().empty());
    }
    SECTION("a single text/plain body") {
        mail::Message m;
        m.feed_header("MIME-Version", " 1.0");
        m.feed_header("Content-Type", " text/plain; charset=utf-8");
        m.feed_body("short\r\n" + longtext + "\r\nend\r\n");
        REQUIRE(mail::fix_long_lines(m, mail::LongLinePolicy::reencode).ok());
        CHECK(m.value("Content-Transfer-Encoding") == "quoted-printable");
        CHECK(m.body_data().longest_line() <= 76);
        CHECK(qp_decode(m.body()) == "short\r\n" + longtext + "\r\nend\r\n");
        CHECK(m.value("Content-Type") == "text/plain; charset=utf-8");
    }
    SECTION("a non-MIME message is text/plain: re-encoded, MIME-Version added") {
        mail::Message m;
        m.feed_header("From", " a@example.com");
        m.feed_body(longtext + "\r\n");
        REQUIRE(mail::fix_long_lines(m, mail::LongLinePolicy::reencode).ok());
        CHECK(m.value("MIME-Version") == "1.0");
        CHECK(m.value("Content-Transfer-Encoding") == "quoted-printable");
        CHECK(qp_decode(m.body()) == longtext + "\r\n");
    }
    SECTION("text and HTML parts of multipart/alternative; the attachment kept byte for byte") {
        const std::string att =
            "--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nJVBERi0xLjQK\r\n";
        mail::Message m;
        m.feed_header("MIME-Version", " 1.0");
        m.feed_header("Content-Type", " multipart/mixed; boundary=\"B\"");
        m.feed_body(
            "preamble\r\n--B\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n"
            "--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
            longtext + "\r\n--A\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            longhtml + "\r\n--A--\r\n\r\n" + att + "--B--\r\n");
        REQUIRE(mail::fix_long_lines(m, mail::LongLinePolicy::reencode).ok());
        const std::string& b = m.body();
        INFO(b);
        CHECK(m.body_data().longest_line() <= 998);
        CHECK(b.find(att) != std::string::npos);
        std::string text = section(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n", "\r\n--A");
        CHECK(qp_decode(text) == longtext);
        std::string html =
            section(b, "text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", "\r\n--A--");
        CHECK(qp_decode(html) == longhtml);
        CHECK(m.find("Content-Transfer-Encoding") == nullptr);  // top level unchanged
    }
    SECTION("refused: attachment, multipart/signed, preamble, non-MIME non-text, reject policy") {
        struct Case {
            std::string ct;
            bool mime;
            std::string body;
            std::string why;
        };
        std::vector<Case> cases = {
            {"multipart/mixed; boundary=B", true,
             "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: application/octet-stream\r\n\r\n" +
                 longtext + "\r\n--B--\r\n",
             "application/octet-stream"},
            {"multipart/signed; boundary=S; protocol=\"application/pgp-signature\"", true,
             "--S\r\nContent-Type: text/plain\r\n\r\n" + longtext +
                 "\r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--S--\r\n",
             "multipart/signed"},
            {"multipart/mixed; boundary=B", true,
             longtext + "\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B--\r\n", "preamble or epilogue"},
            {"text/html", false, longtext + "\r\n", "non-MIME"},
            {"text/plain", true, "", "base64"},
        };
        for (auto& c : cases) {
            mail::Message m;
            if (c.mime) m.feed_header("MIME-Version", " 1.0");
            m.feed_header("Content-Type", " " + c.ct);
            if (c.why == "base64") {
                m.feed_header("Content-Transfer-Encoding", " base64");
                m.feed_body(longtext + "\r\n");
            } else {
                m.feed_body(c.body);
            }
            auto st = mail::fix_long_lines(m, mail::LongLinePolicy::reencode);
            INFO(c.why);
            REQUIRE_FALSE(st.ok());
            CHECK(st.error().reply.code == "554");
            CHECK(st.error().reply.xcode == "5.6.0");
            CHECK(st.error().what.find("998") != std::string::npos);
            CHECK(m.edits().empty());
        }
        mail::Message m;
        m.feed_header("Content-Type", " text/plain");
        m.feed_body(longtext + "\r\n");
        auto st = mail::fix_long_lines(m, mail::LongLinePolicy::reject);
        REQUIRE_FALSE(st.ok());
        CHECK(st.error().reply.str().rfind("554 5.6.0", 0) == 0);
    }
}
