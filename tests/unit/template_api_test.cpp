// template_api_test.cpp -- the /v1/templates documents and operations:
// request parsing and checks, TemplateData forms, the store step, and the
// preview rendering what the milter's stage renders.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

#include "mail/message.hpp"
#include "services/template_api.hpp"
#include "template/stage.hpp"
#include "template/store.hpp"

using nlohmann::json;
namespace api = ses::services::templates;
using ses::tmpl::Template;

namespace {

Template welcome() {
    Template t;
    t.name = "welcome";
    t.id = 7;
    t.subject = "Hi {{name}}";
    t.html = "<p>Order {{order.id}} for {{name}}</p>";
    t.text = "Order {{order.id}} for {{name}}\n";
    t.default_data = R"({"order":{"id":"A-1"}})";
    return t;
}

}  // namespace

TEST_CASE("template requests are parsed and checked", "[template_api]") {
    auto t = api::from_request(
        R"({"TemplateName": "w", "Subject": "S {{x}}", "Html": "<b>{{x}}</b>", "Text": "", "DefaultData": "{\"x\": 1}", "Strict": false})");
    REQUIRE(t.ok());
    CHECK(t->name == "w");
    CHECK(t->html == "<b>{{x}}</b>");
    CHECK_FALSE(t->text.has_value());  // an empty form field is no part
    CHECK(t->default_data == R"({"x":1})");
    CHECK_FALSE(t->strict);

    auto broken = api::from_request(R"({"TemplateName": "b", "Subject": "x", "Html": "<p>\n  {{#items}}</p>"})");
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.error().what == "template b: html: line 2, column 3: Unclosed section \"items\"");

    CHECK(api::from_request(R"({"TemplateName": "b", "Subject": "x", "Text": "t", "Colour": 1})").error().what ==
          "Colour: unknown field");
    CHECK(api::from_request(R"({"TemplateName": "b", "Text": "t"})").error().what == "Subject: required (a string)");
    CHECK(api::from_request(R"({"TemplateName": ".b", "Subject": "x", "Text": "t"})")
              .error()
              .what.starts_with("TemplateName: "));
    CHECK(api::from_request(R"({"TemplateName": "b", "Subject": "x"})").error().what.find("part") != std::string::npos);
    CHECK(
        api::from_request(R"({"TemplateName": "b", "Subject": "x", "Text": "t", "DefaultData": "[1]"})").error().what ==
        "DefaultData: TemplateData: not a JSON object");
    CHECK_FALSE(api::from_request("[]").ok());
}

TEST_CASE("TemplateData is an object or a JSON string of one", "[template_api]") {
    CHECK(*api::template_data(json::parse(R"({"a": 1})")) == json{{"a", 1}});
    CHECK(*api::template_data(json(R"({"a": 1})")) == json{{"a", 1}});
    CHECK(*api::template_data(json()) == json::object());
    CHECK(api::template_data(json("{")).error().what == "TemplateData: not valid JSON");
    CHECK_FALSE(api::template_data(json(3)).ok());
}

TEST_CASE("preview renders what the template stage puts into the message", "[template_api]") {
    Template t = welcome();
    t.html.reset();
    json data = {{"name", "Ana"}};
    auto p = api::preview(t, data, 10'000'000);
    REQUIRE(p.ok());
    CHECK(p->subject == "Hi Ana");
    CHECK(*p->text == "Order A-1 for Ana\n");

    ses::mail::Message m;
    m.feed_header("From", " a@example.com");
    m.feed_header("Subject", " x");
    m.feed_body("\r\n");
    REQUIRE(ses::tmpl::apply_template(m, t, data, ses::tmpl::Settings{}).ok());
    CHECK(m.value("Subject").value_or("").find(p->subject) != std::string::npos);
    CHECK(m.body().find("Order A-1 for Ana") != std::string::npos);

    // HTML escapes as in a message; a strict template names what is missing.
    auto h = api::preview(welcome(), {{"name", "<Ana>"}}, 10'000'000);
    REQUIRE(h.ok());
    CHECK(*h->html == "<p>Order A-1 for &lt;Ana&gt;</p>");
    auto missing = api::preview(welcome(), json::object(), 10'000'000);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().what.find("'name'") != std::string::npos);
    // {{unsubscribe_url}} is reserved: empty, never missing.
    Template u = welcome();
    u.html = "<a href=\"{{unsubscribe_url}}\">x</a>";
    CHECK(*api::preview(u, {{"name", "A"}, {"unsubscribe_url", "evil"}}, 10'000'000)->html == "<a href=\"\">x</a>");

    json doc = api::preview_document(welcome(), *h);
    CHECK(doc["TemplateID"] == 7);
    CHECK(doc["Subject"] == "Hi <Ana>");
    CHECK(doc["Text"] == "Order A-1 for <Ana>\n");
}

TEST_CASE("the store step keeps id and created time, and leaves an identical template alone", "[template_api]") {
    ses::tmpl::MemoryTemplateStore st;
    Template t = welcome();
    REQUIRE(*api::store(st, t, 100) == api::Stored::added);
    auto first = **st.get("welcome");
    CHECK(first.created == 100);
    CHECK(first.updated == 100);
    Template again = welcome();
    again.id = 0;  // a request carries no id
    CHECK(*api::store(st, again, 200) == api::Stored::unchanged);
    CHECK((**st.get("welcome")).updated == 100);
    again.subject = "Hello {{name}}";
    CHECK(*api::store(st, again, 300) == api::Stored::replaced);
    auto after = **st.get("welcome");
    CHECK(after.created == 100);
    CHECK(after.updated == 300);

    json d = api::document(after);
    CHECK(d["TemplateName"] == "welcome");
    CHECK(d["Subject"] == "Hello {{name}}");
    CHECK(d["DefaultData"] == json{{"order", {{"id", "A-1"}}}});
    CHECK(d["HasHtml"] == true);
    CHECK(api::info(after).contains("Html") == false);
}
