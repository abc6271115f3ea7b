// send_test.cpp -- the sending API's pure parts: mail::compose (parsed back
// with GMime, attachments byte for byte) and the request checks of
// services::parse_send.
#include <gmime/gmime.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "crypto/encoding.hpp"
#include "mail/address.hpp"
#include "mail/compose.hpp"
#include "services/send_api.hpp"

using namespace ses;
using nlohmann::json;

namespace {

struct Parsed {
    GMimeMessage* msg = nullptr;
    explicit Parsed(const std::string& raw) {
        mail::init();
        GMimeStream* s = g_mime_stream_mem_new_with_buffer(raw.data(), raw.size());
        GMimeParser* p = g_mime_parser_new_with_stream(s);
        msg = g_mime_parser_construct_message(p, nullptr);
        g_object_unref(p);
        g_object_unref(s);
    }
    ~Parsed() {
        if (msg) g_object_unref(msg);
    }
    std::string header(const char* name) const {
        const char* v = g_mime_object_get_header(GMIME_OBJECT(msg), name);
        return v ? v : "";
    }
};

std::string mime_type(GMimeObject* o) {
    char* t = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(o));
    std::string out = t;
    g_free(t);
    return out;
}

// The decoded bytes of a leaf part.
std::string decoded(GMimeObject* o) {
    GMimeDataWrapper* w = g_mime_part_get_content(GMIME_PART(o));
    GMimeStream* out = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, out);
    GByteArray* a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
    std::string s(reinterpret_cast<const char*>(a->data), a->len);
    g_object_unref(out);
    return s;
}

mail::Composition base() {
    mail::Composition c;
    c.from = "Alice Example <alice@example.com>";
    c.to = {"bob@example.net"};
    c.subject = "Grüße from the API";
    c.text = "Hello Bob.\n";
    c.html = "<p>Hello <b>Bob</b>. Ünïcödé</p>";
    c.message_id = "aaaaexampleid@example.com";
    c.date = 1700000000;
    return c;
}

}  // namespace

TEST_CASE("compose: headers and multipart/alternative", "[send]") {
    auto c = base();
    c.cc = {"carol@example.org"};
    c.reply_to = {"replies@example.com"};
    c.headers = {{"X-Campaign", "spring"}};
    auto raw = mail::compose(c);
    REQUIRE(raw.ok());
    CHECK(raw->find("\r\n") != std::string::npos);
    for (size_t i = 0; i < raw->size(); ++i)
        if ((*raw)[i] == '\n') REQUIRE((i > 0 && (*raw)[i - 1] == '\r'));
    // RFC 2047 for the non-ASCII subject: no raw 8-bit bytes in the headers.
    std::string head = raw->substr(0, raw->find("\r\n\r\n"));
    CHECK(std::none_of(head.begin(), head.end(), [](char ch) { return static_cast<unsigned char>(ch) > 127; }));
    Parsed p(*raw);
    REQUIRE(p.msg);
    CHECK(std::string(g_mime_message_get_subject(p.msg)) == "Grüße from the API");
    CHECK(mail::mailboxes(p.header("From")) == std::vector<std::string>{"alice@example.com"});
    CHECK(mail::mailboxes(p.header("To")) == std::vector<std::string>{"bob@example.net"});
    CHECK(mail::mailboxes(p.header("Cc")) == std::vector<std::string>{"carol@example.org"});
    CHECK(mail::mailboxes(p.header("Reply-To")) == std::vector<std::string>{"replies@example.com"});
    CHECK(p.header("Message-ID") == "<aaaaexampleid@example.com>");
    CHECK(p.header("X-Campaign") == "spring");
    CHECK(p.header("Date").find("2023") != std::string::npos);
    CHECK(p.header("MIME-Version") == "1.0");
    GMimeObject* body = g_mime_message_get_mime_part(p.msg);
    REQUIRE(mime_type(body) == "multipart/alternative");
    auto* alt = GMIME_MULTIPART(body);
    REQUIRE(g_mime_multipart_get_count(alt) == 2);
    CHECK(mime_type(g_mime_multipart_get_part(alt, 0)) == "text/plain");
    CHECK(mime_type(g_mime_multipart_get_part(alt, 1)) == "text/html");
    CHECK(decoded(g_mime_multipart_get_part(alt, 1)) == "<p>Hello <b>Bob</b>. Ünïcödé</p>");
    CHECK(std::string(g_mime_object_get_content_type_parameter(g_mime_multipart_get_part(alt, 1), "charset")) ==
          "utf-8");
}

TEST_CASE("compose: attachments byte for byte, template headers", "[send]") {
    auto c = base();
    std::string pdf = "%PDF-1.4\n";
    for (int i = 0; i < 3000; ++i) pdf += static_cast<char>(i * 7 % 256);
    c.attachments = {{"report.PDF", pdf}, {"data.bin", std::string("\0\1\2\r\n\x80", 6)}};
    c.template_name = "welcome";
    c.template_data = R"({"name":"Bob","city":"Zürich"})";
    auto raw = mail::compose(c);
    REQUIRE(raw.ok());
    Parsed p(*raw);
    REQUIRE(p.msg);
    CHECK(p.header("X-SES-Template") == "welcome");
    std::string data = p.header("X-SES-Template-Data");
    REQUIRE(data.rfind("base64:", 0) == 0);
    CHECK(*crypto::base64_decode(data.substr(7)) == c.template_data);
    GMimeObject* body = g_mime_message_get_mime_part(p.msg);
    REQUIRE(mime_type(body) == "multipart/mixed");
    auto* mixed = GMIME_MULTIPART(body);
    REQUIRE(g_mime_multipart_get_count(mixed) == 3);
    // With a template the text part is a placeholder the milter replaces.
    CHECK(mime_type(g_mime_multipart_get_part(mixed, 0)) == "text/plain");
    GMimeObject* a = g_mime_multipart_get_part(mixed, 1);
    CHECK(mime_type(a) == "application/pdf");
    CHECK(std::string(g_mime_part_get_filename(GMIME_PART(a))) == "report.PDF");
    CHECK(g_mime_part_get_content_encoding(GMIME_PART(a)) == GMIME_CONTENT_ENCODING_BASE64);
    CHECK(decoded(a) == pdf);
    GMimeObject* b = g_mime_multipart_get_part(mixed, 2);
    CHECK(mime_type(b) == "application/octet-stream");
    CHECK(decoded(b) == std::string("\0\1\2\r\n\x80", 6));
}

TEST_CASE("compose: refuses bad text and headers", "[send]") {
    auto c = base();
    c.html = std::string("\xff\xfe", 2);
    CHECK_FALSE(mail::compose(c).ok());
    c = base();
    c.headers = {{"DKIM-Signature", "v=1"}};
    CHECK_FALSE(mail::compose(c).ok());
    CHECK(mail::refused_header("X-Campaign", "a").empty());
    for (auto name : {"From", "to", "Bcc", "Message-ID", "DKIM-Signature", "X-SES-Template", "x-ses-submission",
                      "ARC-Seal", "Content-Type", "Received", "Bad Name", "Colon:"})
        CHECK_FALSE(mail::refused_header(name, "v").empty());
    CHECK_FALSE(mail::refused_header("X-A", "line\r\nInjected: 1").empty());
    CHECK_FALSE(mail::refused_header("X-A", std::string(1000, 'a')).empty());
}

TEST_CASE("compose: addresses and content types", "[send]") {
    for (auto a : {"a@example.com", "first.last+tag@sub.example.co.uk", "x_y-z@e-x.com"})
        CHECK(mail::valid_addr_spec(a));
    for (auto a : {"", "a", "a@", "@example.com", "a@example", "a@@example.com", "a b@example.com", "a.@example.com",
                   "a@-example.com", "a@example..com", "<a@example.com>", "a@exa_mple.com"})
        CHECK_FALSE(mail::valid_addr_spec(a));
    CHECK(mail::content_type_for("x.pdf") == "application/pdf");
    CHECK(mail::content_type_for("PHOTO.JPG") == "image/jpeg");
    CHECK(mail::content_type_for("noext") == "application/octet-stream");
    CHECK(mail::content_type_for("x.weird") == "application/octet-stream");
}

namespace {

services::SendSettings settings() {
    services::SendSettings s;
    s.refused_attachments = {".exe", ".js"};
    return s;
}

// The field of the Invalid a request gives, or "OK".
std::string field_of(const json& body) {
    auto r = services::parse_send(body, settings());
    if (auto* i = std::get_if<services::Invalid>(&r)) return i->field.empty() ? "(body)" : i->field;
    return "OK";
}

json good() {
    return json{{"FromEmailAddress", "Shop <noreply@example.com>"},
                {"Destination", {"a@example.net", "b@example.net"}},
                {"Subject", "Hi"},
                {"Simple", {{"Html", crypto::base64_encode("<p>hi</p>")}}}};
}

}  // namespace

TEST_CASE("send: request checks name the field", "[send]") {
    CHECK(field_of(good()) == "OK");
    auto with = [](const char* k, json v) {
        json j = good();
        if (v.is_null())
            j.erase(k);
        else
            j[k] = v;
        return j;
    };
    struct Case {
        json body;
        std::string field;
    };
    std::vector<std::string> fifty_one;
    for (int i = 0; i < 51; ++i) fifty_one.push_back("r" + std::to_string(i) + "@example.net");
    std::vector<std::string> twenty_one(fifty_one.begin(), fifty_one.begin() + 21);
    std::vector<Case> cases = {
        {json::array(), "(body)"},
        {with("FromEmailAddress", nullptr), "FromEmailAddress"},
        {with("FromEmailAddress", "not an address"), "FromEmailAddress"},
        {with("Destination", nullptr), "Destination"},
        {with("Destination", json::array({"ok@example.net", "bad@"})), "Destination[1]"},
        {with("Destination", fifty_one), "Destination"},
        {with("Destination", json::array({"a@example.net", "a@example.net"})), "Destination[1]"},
        {with("Cc", twenty_one), "Cc"},
        {with("Bcc", twenty_one), "Bcc"},
        {with("Bcc", std::vector<std::string>(fifty_one.begin(), fifty_one.begin() + 20)), "OK"},
        {with("Subject", nullptr), "Subject"},
        {with("Subject", "a\r\nBcc: x@example.org"), "Subject"},
        {with("Simple", json{{"Html", "!!not base64!!"}}), "Simple.Html"},
        {with("Simple", json::object()), "Simple"},
        {with("Template", json{{"TemplateName", "welcome"}}), "Template"},  // both Template and Simple
        {with("Attachments", json::array({{{"FileName", "run.EXE"}, {"Content", "AAAA"}}})), "Attachments[0].FileName"},
        {with("Attachments", json::array({{{"FileName", "a.pdf"}, {"Content", "%%%"}}})), "Attachments[0].Content"},
        {with("Attachments", json::array({{{"FileName", "a.pdf"}}})), "Attachments[0]"},
        {with("SmtpHeaders", json{{"X-Ok", "1"}, {"DKIM-Signature", "x"}}), "SmtpHeaders.DKIM-Signature"},
        {with("SmtpHeaders", "not json"), "SmtpHeaders"},
        {with("SmtpHeaders", R"({"X-Campaign":"spring"})"), "OK"},
        {with("TriggerType", 3), "TriggerType"},
        {with("Whatever", 1), "Whatever"},
    };
    for (const auto& c : cases) {
        INFO(c.body.dump());
        CHECK(field_of(c.body) == c.field);
    }

    json t = good();
    t.erase("Simple");
    t.erase("Subject");
    t["Template"] = {{"TemplateID", 0}};
    CHECK(field_of(t) == "Template.TemplateID");
    t["Template"] = {{"TemplateData", "{}"}};
    CHECK(field_of(t) == "Template");
    t["Template"] = {{"TemplateName", "welcome"}, {"TemplateData", "[1]"}};
    CHECK(field_of(t) == "Template.TemplateData");
    // TemplateData as the product's JSON string or as an object: the same.
    t["Template"] = {{"TemplateID", "7"}, {"TemplateData", R"({"name":"Bob"})"}};
    auto a = services::parse_send(t, settings());
    t["Template"] = {{"TemplateID", 7}, {"TemplateData", {{"name", "Bob"}}}};
    auto b = services::parse_send(t, settings());
    REQUIRE(std::holds_alternative<services::SendRequest>(a));
    REQUIRE(std::holds_alternative<services::SendRequest>(b));
    CHECK(std::get<0>(a).template_id == 7);
    CHECK(std::get<0>(a).template_data == std::get<0>(b).template_data);
    CHECK(std::get<0>(a).template_data == R"({"name":"Bob"})");
}

TEST_CASE("send: one message per recipient unless Cc or Bcc", "[send]") {
    auto r = std::get<services::SendRequest>(services::parse_send(good(), settings()));
    CHECK(r.from_addr == "noreply@example.com");
    CHECK(r.header_from == "Shop <noreply@example.com>");
    CHECK(services::message_recipients(r) ==
          std::vector<std::vector<std::string>>{{"a@example.net"}, {"b@example.net"}});
    r.bcc = {"hidden@example.org", "a@example.net"};
    CHECK(services::message_recipients(r) ==
          std::vector<std::vector<std::string>>{{"a@example.net", "b@example.net", "hidden@example.org"}});
}

TEST_CASE("send settings: identities and refused types", "[send]") {
    services::SendSettings s = settings();
    s.identities = {{"example.com"}, {"mail.example.com"}};
    CHECK(s.identity_for("EXAMPLE.com")->name == "example.com");
    CHECK(s.identity_for("a.mail.example.com")->name == "mail.example.com");
    CHECK(s.identity_for("sub.example.com")->name == "example.com");
    CHECK(s.identity_for("badexample.com") == nullptr);
    s.subdomains = false;
    CHECK(s.identity_for("sub.example.com") == nullptr);
    CHECK(s.refused_attachment("x.JS"));
    CHECK_FALSE(s.refused_attachment("x.json"));
}

TEST_CASE("send settings: when the Unsubscribe field can be honoured", "[send]") {
    auto unavailable = [](const std::string& toml) {
        auto cfg = config::load_string(toml, "t.toml");
        REQUIRE(cfg.ok());
        auto s = services::send_settings_from(*cfg);
        REQUIRE(s.ok());
        return s->unsubscribe_unavailable;
    };
    CHECK(unavailable("") == "unsubscribe links need [tracking] keys");
    const std::string keys = "[tracking]\nkeys = [\"1:0123456789abcdef0123\"]\n";
    CHECK(unavailable(keys + "[http]\npublic_url = \"https://mail.example.com\"\n").empty());
    CHECK(unavailable(keys + "[http]\npublic_url = \"http://127.0.0.1:8025\"\n").empty());
    CHECK(unavailable(keys + "[http]\npublic_url = \"http://mail.example.com\"\n") ==
          "unsubscribe links need an https [http] public_url");
    CHECK(unavailable(keys) == "unsubscribe links need an https [http] public_url");
}
