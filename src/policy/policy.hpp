// policy.hpp -- the policy script shared by every thread: a script, a pool
// of Lua states running it, and the caller's fallback for each call.
//
// Lua states are not thread-safe, so each call borrows a state from a pool
// (creating one from the current script when none is idle) and returns it
// afterwards; a state whose call failed is thrown away.  The calls never
// fail: when the script does not register a hook the caller's fallback (the
// warm-up's built-in rule, warmup/builtin.hpp) answers; when a registered
// hook errors, runs out of its instruction
// budget or memory, or returns nonsense, the built-in rule answers and one
// log line says why (at most one line per hook per second, with a count of
// the ones left out).  A hook cannot run unbounded (lua_runtime.hpp): one
// that hits its instruction budget or time limit counts in stalls(), and
// since every thread borrows its own state, it delays only its own caller.
//
// reload() re-reads the script; a script that fails to load is refused, the
// old one stays in use and the error is returned.  States of the old script
// still in use finish their call and are then dropped.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "policy/hooks.hpp"
#include "policy/lua_runtime.hpp"
#include "util/result.hpp"

namespace ses::policy {

struct Settings {
    std::string script;  // path; "" = built-in rules only
    uint64_t instruction_limit = 1'000'000;
    uint64_t memory_limit = 16ull << 20;
    int64_t time_limit_ms = 200;  // wall clock per hook call
    size_t max_idle_states = 32;
};

// For --check-config: loads the script as the daemon would and returns
// warnings (globals that look like hooks but are not registered); fails
// when it does not load.
Result<std::vector<std::string>> check_script(const Settings& s, std::span<const HookDef> hooks);

class Policy {
public:
    // Loads the script once to check it; fails when it does not load.
    // `hooks` are the hooks a script may register (the table must outlive
    // the Policy).
    static Result<std::shared_ptr<Policy>> open(const Settings& s, std::span<const HookDef> hooks);
    // From text (tests, benchmarks): `name` is used in messages.
    static Result<std::shared_ptr<Policy>> from_source(std::string source, std::string name, const Settings& s,
                                                       std::span<const HookDef> hooks);

    Status reload();  // re-reads Settings::script
    Status replace_source(std::string source, std::string name);

    // Calls `hook` on a borrowed state: nullopt when the script does not
    // register it, else the hook's result or why it failed.
    std::optional<Result<Value>> call(std::string_view hook, const std::vector<Value>& args);

    // call(), then `convert` checks the result; answers with `fallback` (the
    // caller's built-in rule) when the script does not register the hook
    // (silently) or the call or the conversion fails (counted and logged).
    // The arguments are built only when the script registers the hook.
    template <class R>
    R decide(std::string_view hook, const std::function<std::vector<Value>()>& args,
             const std::function<Result<R>(const Value&)>& convert, const std::function<R()>& fallback) {
        if (!has(hook)) return fallback();
        auto v = call(hook, args());
        if (!v) return fallback();
        if (!*v) {
            fell_back(hook, v->error());
            return fallback();
        }
        auto r = convert(**v);
        if (!r) {
            fell_back(hook, Error{std::string(hook) + ": " + r.error().what, {}});
            return fallback();
        }
        return std::move(*r);
    }

    bool has(std::string_view hook) const;  // registered by the current script
    std::string describe() const;           // "script /etc/sesmilter/warmup.lua" / "built-in rules"
    uint64_t fallbacks() const { return fallbacks_.load(); }
    uint64_t stalls() const { return stalls_.load(); }  // fallbacks because a hook hit its budget or time limit
    uint64_t generation() const;

private:
    struct Script {
        std::string source;
        std::string name;
        uint64_t generation = 0;
        unsigned hooks = 0;  // bit i = hooks()[i] registered
    };

    Policy(Settings s, std::span<const HookDef> hooks) : settings_(std::move(s)), hooks_(hooks) {}
    Status install(std::string source, std::string name);
    std::unique_ptr<LuaRuntime> take(const Script& script);
    void give_back(std::unique_ptr<LuaRuntime> rt, uint64_t generation);
    void fell_back(std::string_view hook, const Error& e);
    bool script_has(const Script* s, size_t hook_index) const;

    Settings settings_;
    mutable std::mutex mu_;
    std::shared_ptr<const Script> script_;  // null: built-in only
    std::vector<std::unique_ptr<LuaRuntime>> idle_;
    std::atomic<uint64_t> fallbacks_{0};
    std::atomic<uint64_t> stalls_{0};
    std::span<const HookDef> hooks_;
    std::mutex log_mu_;
    std::map<std::string, std::pair<int64_t, uint64_t>, std::less<>> last_log_;  // hook -> second, left out
};

}  // namespace ses::policy
