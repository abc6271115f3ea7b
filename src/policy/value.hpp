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

struct Value {
    enum class Type { nil, boolean, integer, number, string, table };
    Type type = Type::nil;
    bool b = false;
    int64_t i = 0;
    double n = 0;
    std::string s;
    std::vector<std::pair<Value, Value>> entries;  // table

    static Value boolean(bool v) {
        Value x;
        x.type = Type::boolean;
        x.b = v;
        return x;
    }
    static Value integer(int64_t v) {
        Value x;
        x.type = Type::integer;
        x.i = v;
        return x;
    }
    static Value number(double v) {
        Value x;
        x.type = Type::number;
        x.n = v;
        return x;
    }
    static Value string(std::string_view v) {
        Value x;
        x.type = Type::string;
        x.s = std::string(v);
        return x;
    }
    static Value table() {
        Value x;
        x.type = Type::table;
        return x;
    }

    // Table building.
    Value& set(std::string_view key, Value v) {
        entries.emplace_back(string(key), std::move(v));
        return *this;
    }
    Value& append(Value v) {
        entries.emplace_back(integer(static_cast<int64_t>(entries.size()) + 1), std::move(v));
        return *this;
    }
    // The value at a string key of a table, or null.
    const Value* get(std::string_view key) const {
        for (const auto& [k, v] : entries)
            if (k.type == Type::string && k.s == key) return &v;
        return nullptr;
    }
    std::string_view type_name() const {
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
};

}  // namespace ses::policy
