// render.hpp -- Mustache rendering of a template with JSON data.
//
// The HTML part escapes values (& < > " '), `{{{x}}}` and `{{&x}}` excepted;
// the text part and the Subject insert values as they are.  A value that
// would put CR, LF or NUL into the Subject is refused.  Strict templates
// refuse a variable the data lacks (sections `{{#x}}` / `{{^x}}` may name
// absent keys: absent is false); non-strict ones render it empty.  Partials
// (`{{>x}}`) are refused: data must never become template text.  Work and
// output are bounded (Limits), so hostile data cannot make rendering run
// away.
//
// Data: objects, arrays, strings and booleans map to Mustache's; numbers
// print as JSON writes them (42, 3.5); null is false.
//
// Errors: reply-free Error whose `what` is the reason ("missing variable
// 'name' in html").  Thread-safe.  Parsed parts are cached process-wide
// (keyed by their text, so a changed template is parsed afresh); a parsed
// Mustache object is leased to one thread at a time, never rendered
// concurrently.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "template/template.hpp"
#include "util/result.hpp"

namespace ses::tmpl {

struct Rendered {
    std::string subject;              // decoded UTF-8, one line
    std::optional<std::string> html;  // LF line ends
    std::optional<std::string> text;
};

struct Limits {
    size_t max_output = 10'000'000;  // bytes over all parts
    size_t max_lookups = 1'000'000;  // variable/section look-ups
    int max_data_depth = 32;         // nesting of the JSON data
};

// Check that `text` parses and uses no partials; `part` names it in errors
// ("html: line 3, column 7: Unclosed tag").
Status check_part(std::string_view part, const std::string& text);

// The template's default data with `data` merged over it (objects merge
// key by key, recursively; anything else replaces).  `data` must be an
// object.
Result<nlohmann::json> merge_data(const Template& t, nlohmann::json data);

Result<Rendered> render(const Template& t, const nlohmann::json& data, const Limits& limits = {});

}  // namespace ses::tmpl
