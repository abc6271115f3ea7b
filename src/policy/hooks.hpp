// hooks.hpp -- the hook registry: how a module declares the hooks a script
// may register.
//
// A module (the warm-up: warmup/hooks.hpp) declares each of its hooks once,
// with its Lua signature, what it returns, its built-in rule and an example,
// and hands that table to the Policy; registering a name that is not in it
// is a load error, so a misspelt hook cannot be silently ignored.  The
// runtime knows nothing else of the hooks: arguments and results cross as
// policy::Value (value.hpp), and the module converts and checks them.  The
// reference (reference.hpp) is generated from these tables.
// Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ses::policy {

struct HookDef {
    std::string_view name;       // "daily_limit"
    std::string_view signature;  // "daily_limit(identity)"
    std::string_view returns;    // "number | {total = n, groups = {...}}"
    std::string_view summary;
    std::string_view example;  // Lua
    std::string_view builtin;  // the rule used when the hook is not registered or fails
};

const HookDef* find_hook(std::span<const HookDef> hooks, std::string_view name);

// The tables the hooks receive, field by field (for the generated
// reference, docs/lua-hooks.md), declared by the module with the hooks.
struct FieldDef {
    std::string_view name, type, meaning;
};
struct ArgTypeDef {
    std::string_view name;     // "identity"
    std::string_view used_by;  // "every hook"
    std::span<const FieldDef> fields;
};

// The `ses` table a script sees.
struct ApiDef {
    std::string_view signature, doc;
};
std::span<const ApiDef> ses_api();

}  // namespace ses::policy
