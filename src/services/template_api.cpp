// template_api.cpp -- see template_api.hpp.
#include "services/template_api.hpp"

#include <charconv>
#include <variant>
#include <vector>

#include "records/tasks.hpp"
#include "template/stage.hpp"
#include "util/clock.hpp"

namespace ses::services::templates {
namespace {

using http::error_response;
using http::json_response;
using http::Request;
using http::Response;

Response ok_json(const json& j, int status = 200) { return json_response(status, j.dump(2) + "\n"); }

std::string when(int64_t t) { return t ? records::format_task_time(t) : std::string(); }

Error bad(const std::string& field, const std::string& why) { return Error{field + ": " + why, {}}; }

// The template of parts[0], or the error Response.
std::variant<tmpl::Template, Response> find(const Services& s, const std::string& id_or_name) {
    auto t = lookup(*s.templates, id_or_name);
    if (!t) return error_response(500, t.error().what);
    if (!*t) return error_response(404, "no template " + id_or_name);
    return std::move(**t);
}

Response list_or_get(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/templates");
    if (parts.empty()) {
        auto all = s.templates->list();
        if (!all) return error_response(500, all.error().what);
        json list = json::array();
        for (const auto& t : *all) list.push_back(info(t));
        return ok_json({{"Templates", list}});
    }
    if (parts.size() != 1) return error_response(404, "usage: GET /v1/templates or /v1/templates/ID");
    auto t = find(s, parts[0]);
    if (auto* r = std::get_if<Response>(&t)) return *r;
    return ok_json(document(std::get<tmpl::Template>(t)));
}

Response post(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/templates");
    if (parts.empty()) {
        auto t = from_request(req.body);
        if (!t) return error_response(400, t.error().what);
        auto r = store(*s.templates, *t, clock::now());
        if (!r) return error_response(500, r.error().what);
        auto stored = s.templates->get(t->name);
        if (!stored || !*stored) return error_response(500, "template " + t->name + " not found after storing it");
        return ok_json({{"TemplateID", (*stored)->id}, {"TemplateName", t->name}, {"Result", stored_name(*r)}});
    }
    if (parts.size() != 2 || parts[1] != "preview")
        return error_response(404, "usage: POST /v1/templates or /v1/templates/ID/preview");
    auto t = find(s, parts[0]);
    if (auto* r = std::get_if<Response>(&t)) return *r;
    json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return error_response(400, "expected {\"TemplateData\": {...}}");
    for (const auto& [k, v] : body.items())
        if (k != "TemplateData") return error_response(400, k + ": unknown field");
    auto data = template_data(body.value("TemplateData", json()));
    if (!data) return error_response(400, data.error().what);
    const auto& tpl = std::get<tmpl::Template>(t);
    auto r = preview(tpl, std::move(*data), s.send ? s.send->max_message_size : 10'000'000);
    if (!r) return error_response(400, r.error().what);
    return ok_json(preview_document(tpl, *r));
}

Response remove(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/templates");
    if (parts.size() != 1) return error_response(404, "usage: DELETE /v1/templates/ID");
    auto t = find(s, parts[0]);
    if (auto* r = std::get_if<Response>(&t)) return *r;
    const auto& tpl = std::get<tmpl::Template>(t);
    auto gone = s.templates->remove(tpl.name);
    if (!gone) return error_response(500, gone.error().what);
    if (!*gone) return error_response(404, "no template " + parts[0]);
    return ok_json({{"TemplateID", tpl.id}, {"TemplateName", tpl.name}, {"Deleted", true}});
}

}  // namespace

json info(const tmpl::Template& t) {
    return {{"TemplateID", t.id ? json(t.id) : json(nullptr)},
            {"TemplateName", t.name},
            {"Subject", t.subject},
            {"HasHtml", t.html.has_value()},
            {"HasText", t.text.has_value()},
            {"Strict", t.strict},
            {"CreateTime", when(t.created)},
            {"UpdateTime", when(t.updated)}};
}

json document(const tmpl::Template& t) {
    json j = info(t);
    j["Html"] = t.html ? json(*t.html) : json(nullptr);
    j["Text"] = t.text ? json(*t.text) : json(nullptr);
    json d = t.default_data.empty() ? json(nullptr) : json::parse(t.default_data, nullptr, false);
    j["DefaultData"] = d.is_discarded() ? json(nullptr) : d;
    return j;
}

json preview_document(const tmpl::Template& t, const tmpl::Rendered& r) {
    return {{"TemplateID", t.id ? json(t.id) : json(nullptr)},
            {"TemplateName", t.name},
            {"Subject", r.subject},
            {"Html", r.html ? json(*r.html) : json(nullptr)},
            {"Text", r.text ? json(*r.text) : json(nullptr)}};
}

Result<tmpl::Template> from_request(std::string_view body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return Error{"expected a JSON object {\"TemplateName\", \"Subject\", \"Html\", \"Text\"}", {}};
    for (const auto& [k, v] : j.items())
        if (k != "TemplateName" && k != "Subject" && k != "Html" && k != "Text" && k != "DefaultData" && k != "Strict")
            return bad(k, "unknown field");
    tmpl::Template t;
    if (!j.contains("TemplateName") || !j["TemplateName"].is_string())
        return bad("TemplateName", "required (a string)");
    t.name = j["TemplateName"].get<std::string>();
    if (!tmpl::valid_name(t.name)) return bad("TemplateName", "1-64 of A-Z a-z 0-9 _ - ., not starting with . or -");
    if (!j.contains("Subject") || !j["Subject"].is_string()) return bad("Subject", "required (a string)");
    t.subject = j["Subject"].get<std::string>();
    for (const char* part : {"Html", "Text"}) {
        if (!j.contains(part) || j[part].is_null()) continue;
        if (!j[part].is_string()) return bad(part, "must be a string");
        std::string v = j[part].get<std::string>();
        if (v.empty()) continue;  // an empty form field means no such part
        (std::string_view(part) == "Html" ? t.html : t.text) = std::move(v);
    }
    if (j.contains("DefaultData") && !j["DefaultData"].is_null()) {
        auto d = template_data(j["DefaultData"]);
        if (!d) return bad("DefaultData", d.error().what);
        if (!d->empty()) t.default_data = d->dump();
    }
    if (j.contains("Strict") && !j["Strict"].is_null()) {
        if (!j["Strict"].is_boolean()) return bad("Strict", "must be true or false");
        t.strict = j["Strict"].get<bool>();
    }
    if (Status st = tmpl::check(t); !st) return Error{st.error().what, {}};  // "template NAME: part: line L, ..."
    return t;
}

const char* stored_name(Stored s) {
    return s == Stored::added ? "added" : s == Stored::replaced ? "replaced" : "unchanged";
}

Result<Stored> store(tmpl::TemplateStore& st, tmpl::Template t, int64_t now) {
    auto old = st.get(t.name);
    if (!old) return old.error();
    if (*old && (*old)->id != 0) {  // an id-less one gets its id now
        tmpl::Template same = t;
        same.id = (*old)->id;
        same.created = (*old)->created;
        same.updated = (*old)->updated;
        if (same == **old) return Stored::unchanged;
    }
    t.created = *old ? (*old)->created : now;
    t.updated = now;
    if (auto s = st.put(t); !s) return s.error();
    return *old ? Stored::replaced : Stored::added;
}

Result<json> template_data(const json& j) {
    if (j.is_null()) return json::object();
    if (j.is_object()) return j;
    if (j.is_string()) {
        json d = json::parse(j.get<std::string>(), nullptr, false);
        if (d.is_discarded()) return Error{"TemplateData: not valid JSON", {}};
        if (!d.is_object()) return Error{"TemplateData: not a JSON object", {}};
        return d;
    }
    return Error{"TemplateData: must be an object or a JSON string of one", {}};
}

Result<tmpl::Rendered> preview(const tmpl::Template& t, json data, uint64_t max_message_size) {
    tmpl::Settings s;
    s.max_message_size = max_message_size;
    s.reserved["unsubscribe_url"] = "";
    return tmpl::render_for_message(t, std::move(data), s);
}

Result<std::optional<tmpl::Template>> lookup(const tmpl::LmdbTemplateStore& st, std::string_view id_or_name) {
    int64_t id = 0;
    auto [end, ec] = std::from_chars(id_or_name.data(), id_or_name.data() + id_or_name.size(), id);
    if (ec == std::errc() && end == id_or_name.data() + id_or_name.size() && id > 0) {
        auto t = st.get_by_id(id);
        if (!t) return t.error();
        if (*t) return t;
    }
    return st.get(id_or_name);
}

void add_routes(http::Router& router, std::shared_ptr<Services> s) {
    using http::Access;
    auto add = [&](const char* method, Response (*fn)(const Services&, const Request&)) {
        router.add(method, "/v1/templates", Access::operator_route, [s, fn](const Request& r) {
            if (!s->templates) return error_response(500, "no template store");
            return fn(*s, r);
        });
    };
    add("GET", list_or_get);
    add("POST", post);
    add("DELETE", remove);
}

}  // namespace ses::services::templates
