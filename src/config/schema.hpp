// schema.hpp -- every configuration key, declared once.
//
// The table in schema.cpp is the only place a key is named with its type,
// default, bounds and documentation.  The loader checks files against it
// (unknown keys are errors), --dump-config and the generated reference
// (docs/configuration.md) and example (examples/sesmilter.toml) are printed
// from it, and a unit test fails when a key has no doc string.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ses::config {

enum class Type { string, integer, boolean, size, duration, choice, string_list, table_list };

std::string_view type_name(Type t);

struct KeyDef {
    std::string_view path;  // "milter.socket"; arrays of tables use "[]": "domain[].dkim[].key"
    Type type;
    std::string_view def;  // default as TOML value text ("" = no default)
    std::string_view doc;
    std::string_view choices = {};  // "tempfail|accept" for Type::choice
    int64_t min = INT64_MIN;        // bounds for integer, size (bytes), duration (seconds)
    int64_t max = INT64_MAX;
    bool required = false;
    std::string_view example = {};  // TOML value text used in the generated example
};

std::span<const KeyDef> keys();
const KeyDef* find_key(std::string_view path);

// One paragraph per section, for the generated docs.
struct SectionDoc {
    std::string_view name;  // "milter", "domain[]"
    std::string_view doc;
};
std::span<const SectionDoc> sections();

}  // namespace ses::config
