// value.hpp -- a Lua value as plain C++ data: what hook arguments are built
// from and what hook results are read as.
//
// The Lua runtime knows nothing of the modules that declare hooks: they turn
// their own structs into Values (arguments) and check the Values that come
// back (results).  A table is a list of key/value pairs; a list uses the
// integer keys 1..n.  Results are copied out of Lua with bounded depth and
// size, and functions, userdata and threads are refused.
// Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ses::policy {

struct Entry;

struct Value {
    enum class Type { nil, boolean, integer, number, string, table };
    Type type = Type::nil;
    bool b = false;
    int64_t i = 0;
    double n = 0;
    std::string s;
    // A table.  Entry is declared after Value: a container of a pair of the
    // still incomplete Value is ill-formed, and clang (make fuzz) refuses it.
    std::vector<Entry> entries;

    static Value boolean(bool v);
    static Value integer(int64_t v);
    static Value number(double v);
    static Value string(std::string_view v);
    static Value table();

    // Table building.
    Value& set(std::string_view key, Value v);
    Value& append(Value v);
    // The value at a string key of a table, or null.
    const Value* get(std::string_view key) const;
    std::string_view type_name() const;
};

struct Entry {
    Value key;
    Value value;
    Entry(Value k, Value v) : key(std::move(k)), value(std::move(v)) {}
};

inline Value Value::boolean(bool v) {
    Value x;
    x.type = Type::boolean;
    x.b = v;
    return x;
}
inline Value Value::integer(int64_t v) {
    Value x;
    x.type = Type::integer;
    x.i = v;
    return x;
}
inline Value Value::number(double v) {
    Value x;
    x.type = Type::number;
    x.n = v;
    return x;
}
inline Value Value::string(std::string_view v) {
    Value x;
    x.type = Type::string;
    x.s = std::string(v);
    return x;
}
inline Value Value::table() {
    Value x;
    x.type = Type::table;
    return x;
}
inline Value& Value::set(std::string_view key, Value v) {
    entries.emplace_back(string(key), std::move(v));
    return *this;
}
inline Value& Value::append(Value v) {
    entries.emplace_back(integer(static_cast<int64_t>(entries.size()) + 1), std::move(v));
    return *this;
}
inline const Value* Value::get(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k.type == Type::string && k.s == key) return &v;
    return nullptr;
}
inline std::string_view Value::type_name() const {
    switch (type) {
        case Type::nil:
            return "nil";
        case Type::boolean:
            return "boolean";
        case Type::integer:
        case Type::number:
            return "number";
        case Type::string:
            return "string";
        case Type::table:
            return "table";
    }
    return "nil";
}

}  // namespace ses::policy
