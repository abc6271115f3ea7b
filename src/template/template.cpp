// template.cpp -- see template.hpp.
#include "template/template.hpp"

#include <nlohmann/json.hpp>

#include "template/mime.hpp"
#include "template/render.hpp"

namespace ses::tmpl {

using json = nlohmann::json;

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.';
        if (!ok) return false;
    }
    return true;
}

std::string position_of(const std::string& text, size_t offset) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            ++line;
            col = 1;
        } else if ((c & 0xC0) != 0x80) {  // count characters, not UTF-8 continuation bytes
            ++col;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

Status check(const Template& t) {
    if (!valid_name(t.name))
        return internal_error("invalid template name '" + t.name +
                              "': use 1 to 64 letters, digits, '_', '-' or '.', not starting with '.' or '-'");
    if (t.subject.empty()) return internal_error("template " + t.name + ": the subject is empty");
    if (t.subject.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        return internal_error("template " + t.name + ": the subject contains CR, LF or NUL");
    if (!t.html && !t.text)
        return internal_error("template " + t.name + ": it needs an HTML part, a text part or both");
    auto prefix = [&](const Error& e) { return internal_error("template " + t.name + ": " + e.what); };
    // Parts are sent as charset=utf-8: they must be UTF-8.
    for (auto [part, text] : {std::pair<const char*, const std::string*>{"subject", &t.subject},
                              {"html", t.html ? &*t.html : nullptr},
                              {"text", t.text ? &*t.text : nullptr}}) {
        if (!text) continue;
        size_t bad = utf8_error_offset(*text);
        if (bad != std::string::npos)
            return internal_error("template " + t.name + ": " + part + ": " + position_of(*text, bad) +
                                  ": not valid UTF-8 (save the file as UTF-8)");
    }
    if (auto s = check_part("subject", t.subject); !s) return prefix(s.error());
    if (t.html)
        if (auto s = check_part("html", *t.html); !s) return prefix(s.error());
    if (t.text)
        if (auto s = check_part("text", *t.text); !s) return prefix(s.error());
    if (!t.default_data.empty()) {
        try {
            json d = json::parse(t.default_data);
            if (!d.is_object()) return internal_error("template " + t.name + ": default data is not a JSON object");
        } catch (const json::exception& e) {
            return internal_error("template " + t.name + ": default data: " + e.what());
        }
    }
    return ok_status();
}

json to_json(const Template& t) {
    json j;
    j["name"] = t.name;
    if (t.id) j["id"] = t.id;
    j["subject"] = t.subject;
    j["html"] = t.html ? json(*t.html) : json(nullptr);
    j["text"] = t.text ? json(*t.text) : json(nullptr);
    if (t.default_data.empty())
        j["default_data"] = nullptr;
    else
        j["default_data"] = json::parse(t.default_data, nullptr, false);
    j["strict"] = t.strict;
    j["created"] = t.created;
    j["updated"] = t.updated;
    return j;
}

Result<Template> from_json(const json& j) {
    if (!j.is_object()) return internal_error("template document is not a JSON object");
    Template t;
    try {
        t.name = j.at("name").get<std::string>();
        t.id = j.value("id", int64_t{0});
        t.subject = j.value("subject", std::string());
        if (j.contains("html") && !j["html"].is_null()) t.html = j["html"].get<std::string>();
        if (j.contains("text") && !j["text"].is_null()) t.text = j["text"].get<std::string>();
        if (j.contains("default_data") && !j["default_data"].is_null()) {
            const json& d = j["default_data"];
            // Accept the object itself or its text.
            t.default_data = d.is_string() ? d.get<std::string>() : d.dump();
        }
        t.strict = j.value("strict", true);
        t.created = j.value("created", int64_t{0});
        t.updated = j.value("updated", int64_t{0});
    } catch (const json::exception& e) {
        return internal_error(std::string("template document: ") + e.what());
    }
    if (!valid_name(t.name)) return internal_error("template document: invalid name '" + t.name + "'");
    return t;
}

}  // namespace ses::tmpl
