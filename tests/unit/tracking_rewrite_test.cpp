// tracking_rewrite_test.cpp -- the HTML link/pixel rewriter and its MIME
// side (quoted-printable, base64, charsets, untouched parts).
#include <catch2/catch.hpp>

#include "crypto/encoding.hpp"
#include "mail/tracking_rewrite.hpp"

using namespace ses;
using namespace ses::mail;

namespace {

// Links become "T<n>" (n: their order); seen URLs are collected.
struct Collect {
    std::vector<std::string> urls;
    TrackingRewrite rw(std::string pixel = "https://t.example/o/PIX") {
        TrackingRewrite r;
        r.link = [this](std::string_view u) {
            urls.emplace_back(u);
            return "https://t.example/c/T" + std::to_string(urls.size() - 1);
        };
        r.pixel_url = std::move(pixel);
        return r;
    }
};

}  // namespace

TEST_CASE("tracking rewrite: hrefs of <a> and <area>, pixel before </body>", "[tracking_rewrite]") {
    Collect c;
    std::string in =
        "<html><body><p>Hi <a href=\"https://example.com/a?x=1&amp;y=2\">one</a>"
        "<A class=x HREF='http://example.org/b'>two</A>"
        "<a href=https://example.net/c>three</a>"
        "<area shape=rect href=\"https://example.com/map\">"
        "<a href=\"mailto:x@example.com\">m</a><a href=\"#top\">t</a><a href=\"/rel\">r</a>"
        "<a title=\"a > b\" href=\"https://example.com/q\">q</a>"
        "</body></html>";
    std::string out = rewrite_html(in, c.rw());
    REQUIRE(c.urls.size() == 5);
    CHECK(c.urls[0] == "https://example.com/a?x=1&y=2");  // the URL a browser follows
    CHECK(c.urls[1] == "http://example.org/b");
    CHECK(c.urls[2] == "https://example.net/c");
    CHECK(c.urls[3] == "https://example.com/map");
    CHECK(c.urls[4] == "https://example.com/q");
    CHECK(out ==
          "<html><body><p>Hi <a href=\"https://t.example/c/T0\">one</a>"
          "<A class=x HREF=\"https://t.example/c/T1\">two</A>"
          "<a href=\"https://t.example/c/T2\">three</a>"
          "<area shape=rect href=\"https://t.example/c/T3\">"
          "<a href=\"mailto:x@example.com\">m</a><a href=\"#top\">t</a><a href=\"/rel\">r</a>"
          "<a title=\"a > b\" href=\"https://t.example/c/T4\">q</a>"
          "<img src=\"https://t.example/o/PIX\" width=\"1\" height=\"1\" alt=\"\" "
          "style=\"display:block;border:0;width:1px;height:1px\"></body></html>");
}

TEST_CASE("tracking rewrite: comments, script, style and broken markup", "[tracking_rewrite]") {
    Collect c;
    std::string in =
        "<!-- <a href=\"https://hidden.example/\"> </body> -->"
        "<script>var s = '<a href=\"https://js.example/\">';</script>"
        "<style>a[href=\"https://css.example/\"]{}</style>"
        "1 < 2 <a href=\"https://ok.example/\">ok</a> <a href='https://broken.example/>x";
    std::string out = rewrite_html(in, c.rw(""));
    REQUIRE(c.urls.size() == 1);
    CHECK(c.urls[0] == "https://ok.example/");
    // Only that one href changed.
    std::string expect = in;
    expect.replace(expect.find("\"https://ok.example/\""), 21, "\"https://t.example/c/T0\"");
    CHECK(out == expect);

    // No </body>: the pixel goes at the end; none in a comment counts.
    Collect d;
    CHECK(rewrite_html("<p>x</p><!-- </body> -->", d.rw("P"))
              .ends_with("--><img src=\"P\" width=\"1\" height=\"1\" "
                         "alt=\"\" style=\"display:block;border:0;"
                         "width:1px;height:1px\">"));
    // Character references decode to the URL; numeric ones too.
    Collect e;
    rewrite_html("<a href=\"https://x.example/&#63;a=&#x31;&amp;b\">", e.rw(""));
    REQUIRE(e.urls.size() == 1);
    CHECK(e.urls[0] == "https://x.example/?a=1&b");
    // A callback that keeps the link keeps it byte for byte.
    TrackingRewrite keep;
    keep.link = [](std::string_view) { return std::string(); };
    std::string doc = "<a href = 'https://x.example/'>x</a>";
    CHECK(rewrite_html(doc, keep) == doc);
}

TEST_CASE("tracking rewrite: quoted-printable HTML in multipart/alternative, text part untouched",
          "[tracking_rewrite]") {
    std::string text_part =
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Caf=C3=A9 https://example.com/plain\r\n";
    std::string body = "--B1\r\n" + text_part +
                       "--B1\r\n"
                       "Content-Type: text/html; charset=iso-8859-1\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n"
                       "\r\n"
                       "<html><body><p>Caf=E9 <a href=3D\"https://example.com/x?a=3D1\">link</a></p></bo=\r\n"
                       "dy></html>\r\n"
                       "--B1--\r\n";
    Collect c;
    auto r = rewrite_html_parts("multipart/alternative; boundary=\"B1\"", "", body, c.rw());
    REQUIRE(r);
    REQUIRE(*r);
    const std::string& out = **r;
    REQUIRE(c.urls.size() == 1);
    CHECK(c.urls[0] == "https://example.com/x?a=1");
    CHECK(out.find(text_part) != std::string::npos);  // byte for byte
    CHECK(out.find("charset=iso-8859-1") != std::string::npos);
    CHECK(out.find("Content-Transfer-Encoding: quoted-printable\r\n\r\n<html>") != std::string::npos);
    CHECK(out.find("Caf=E9") != std::string::npos);  // Latin-1 bytes kept, still QP
    CHECK(out.find("https://t.example/c/T0") != std::string::npos);
    CHECK(out.find("https://t.example/o/PIX") != std::string::npos);
    CHECK(out.find("https://example.com/x") == std::string::npos);
    CHECK(out.find("\r\n--B1--") != std::string::npos);
    for (size_t i = 0; i < out.size(); ++i)
        if (out[i] == '\n') REQUIRE((i > 0 && out[i - 1] == '\r'));
}

TEST_CASE("tracking rewrite: base64 HTML with an attachment kept byte for byte", "[tracking_rewrite]") {
    std::string html = "<html><body><a href=\"https://example.com/\">x</a></body></html>\r\n";
    std::string attachment =
        "Content-Type: application/pdf; name=\"a.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n"
        "ZT4+CnN0cmVhbQp4nCvkMlAwUDC1NNUzMVGwMDHUszRSKErlCtfiyuMCAFXxBNMKZW5kc3RyZWFt\r\n";
    std::string attached_html =
        "Content-Type: text/html\r\n"
        "Content-Disposition: attachment; filename=\"page.html\"\r\n"
        "\r\n"
        "<a href=\"https://attached.example/\">not ours</a>\r\n";
    std::string body =
        "preamble\r\n--M\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        crypto::base64_encode(html) + "\r\n--M\r\n" + attachment + "--M\r\n" + attached_html + "--M--\r\n";
    Collect c;
    auto r = rewrite_html_parts("multipart/mixed; boundary=M", "", body, c.rw());
    REQUIRE(r);
    REQUIRE(*r);
    const std::string& out = **r;
    CHECK(c.urls == std::vector<std::string>{"https://example.com/"});
    CHECK(out.starts_with("preamble\r\n--M\r\n"));
    CHECK(out.find(attachment) != std::string::npos);
    CHECK(out.find(attached_html) != std::string::npos);
    // The HTML part is still base64 and decodes to the rewritten document.
    size_t h = out.find("Content-Transfer-Encoding: base64\r\n\r\n");
    REQUIRE(h != std::string::npos);
    h += 37;
    size_t end = out.find("\r\n--M", h);
    auto decoded = crypto::base64_decode(out.substr(h, end - h));
    REQUIRE(decoded);
    CHECK(decoded->find("<a href=\"https://t.example/c/T0\">x</a><img src=\"https://t.example/o/PIX\"") !=
          std::string::npos);
}

TEST_CASE("tracking rewrite: single-part HTML, plain text and UTF-16 are handled apart", "[tracking_rewrite]") {
    Collect c;
    auto r = rewrite_html_parts("text/html; charset=utf-8", "7bit", "<p><a href=\"https://e.example/\">e</a></p>\r\n",
                                c.rw(""));
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(**r == "<p><a href=\"https://t.example/c/T0\">e</a></p>\r\n");

    Collect d;
    auto plain = rewrite_html_parts("", "", "see https://e.example/\r\n", d.rw());
    REQUIRE(plain);
    CHECK_FALSE(*plain);  // nothing to rewrite: the body stays as it is
    auto u16 = rewrite_html_parts("text/html; charset=utf-16", "base64", "PABhAA==\r\n", d.rw());
    REQUIRE(u16);
    CHECK_FALSE(*u16);
    CHECK(d.urls.empty());
}
