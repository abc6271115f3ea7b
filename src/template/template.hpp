// template.hpp -- one email template: the model, its JSON form, its checks.
//
// A Template has a name, a Subject, an HTML and a text part (either may be
// absent, not both), optional default data (a JSON object merged under the
// data a message carries), a strict flag (a variable missing from the data
// is an error rather than an empty string) and its created/updated times.
// Parts are Mustache (kainjow) text.
//
// check() is what `sesctl template put` runs: the name is valid, the parts
// parse, no partials, the default data is a JSON object.  A parse error
// names the part and the line and column ("html: line 3, column 7: Unclosed
// tag").  Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "util/result.hpp"

namespace ses::tmpl {

struct Template {
    std::string name;
    // Stable integer id (the product's TemplateID), given by the store on
    // the first put and kept by later ones; 0 = not stored yet.
    int64_t id = 0;
    std::string subject;
    std::optional<std::string> html;
    std::optional<std::string> text;
    std::string default_data;  // JSON object text, "" = none
    bool strict = true;
    int64_t created = 0;  // seconds since the epoch
    int64_t updated = 0;

    bool operator==(const Template&) const = default;
};

// Names: 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'.
bool valid_name(std::string_view name);

// Everything that makes a template unusable, as a reply-free Error
// (Error::what is the message for the operator).
Status check(const Template& t);

// Check one Mustache text; `part` names it in the message.
Status check_part(std::string_view part, const std::string& text);

// "line L, column C" (1-based; columns count UTF-8 characters) of a byte offset.
std::string position_of(const std::string& text, size_t offset);

// JSON form (stored in LMDB, printed by `sesctl template get --json`,
// written by `export`).  from_json refuses documents without a valid name.
nlohmann::json to_json(const Template& t);
Result<Template> from_json(const nlohmann::json& j);

}  // namespace ses::tmpl
