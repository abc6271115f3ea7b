// lua_runtime.hpp -- one sandboxed Lua 5.4 state running a policy script.
//
// The state opens only base (without dofile, loadfile, load, collectgarbage,
// warn), string (without dump), table, math, utf8 and coroutine: no io, os,
// package or debug, so a script can neither run programs, touch files, load
// C modules nor remove its limits.  Scripts are loaded as text only
// (bytecode is refused).  The script sees a `ses` table: ses.on(hook, fn)
// registers a hook while the script loads (an unknown name is an error),
// ses.log(text) writes one log line, ses.now() is the clock (honours
// SESMILTER_NOW); print logs too.
//
// Every run -- the script's top level and each hook call -- is under
// lua_pcall with a traceback and cannot run unbounded (lua_budget.hpp): a
// count hook, installed by the calling thread, charges an instruction budget
// and checks a wall-clock deadline; once either is spent it stays armed and
// raises on every instruction, and pcall, xpcall, coroutine.resume and
// coroutine.close re-raise that error, so a script cannot catch it.
// setmetatable refuses __gc (finalizers run with hooks off); the pattern
// functions count their steps against the same budget (lua_patterns.cpp);
// large allocations check the deadline (string.rep and friends); the
// allocator refuses to grow past the memory cap.
//
// Errors: load() fails on a syntax error, an error at top level, an unknown
// hook name, budget, time or memory; hook calls fail on an error in the
// hook, the budget, the time limit, memory, or a result of the wrong shape.
// After a failed call the runtime reports broken() and should be thrown away
// (the script may have been interrupted half-way through changing its
// globals); stalled() says the budget or the time limit ended it.  Built
// with the C++ flavour of liblua (errors are exceptions, destructors run).
//
// Thread safety: none.  One runtime is used by one thread at a time; the
// Policy pool (policy.hpp) hands them out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/lua_budget.hpp"

#include "policy/hooks.hpp"
#include "policy/value.hpp"
#include "util/result.hpp"

struct lua_State;

namespace ses::policy {

struct Limits {
    uint64_t instructions = 1'000'000;  // per run (top level, or one hook call)
    uint64_t memory = 16ull << 20;      // bytes per state
    int64_t time_limit_ms = 200;        // wall clock per run; 0 = none
};

class LuaRuntime {
public:
    // `name` appears in error messages and tracebacks (usually the path);
    // `hooks` are the names ses.on accepts (the table must outlive the
    // runtime).
    static Result<std::unique_ptr<LuaRuntime>> load(std::string_view source, std::string_view name,
                                                    const Limits& limits, std::span<const HookDef> hooks);
    ~LuaRuntime();
    LuaRuntime(const LuaRuntime&) = delete;
    LuaRuntime& operator=(const LuaRuntime&) = delete;

    bool has(std::string_view hook) const;  // registered by the script
    bool broken() const { return broken_; }
    bool stalled() const { return stalled_; }  // the last run hit the budget or the time limit
    uint64_t memory_used() const;

    // Global functions named like a hook but not registered with ses.on
    // (a script that defines `function daily_limit(...)` silently uses the
    // built-in rule): one warning each.
    const std::vector<std::string>& hook_warnings() const { return hook_warnings_; }

    // Calls a registered hook with `args`; its first result comes back as a
    // Value (the caller checks its shape).  Fails on an error in the hook, the
    // budget, the time limit, memory, or a result that cannot be copied (a
    // function, nesting deeper than 16, more than 100 000 entries).
    Result<Value> call(std::string_view hook, const std::vector<Value>& args);

    struct Mem {
        uint64_t used = 0;
        uint64_t limit = 0;
        Budget* budget = nullptr;
    };

private:
    explicit LuaRuntime(const Limits& l);
    // Runs fn(L) inside lua_pcall under the limits.  fn returns "" or a
    // complaint about the result.
    Status run(std::string_view what, const std::function<std::string(lua_State*)>& fn);

    Limits limits_;
    Mem mem_;
    Budget budget_;
    lua_State* L_ = nullptr;
    std::span<const HookDef> hooks_;
    unsigned registered_ = 0;  // bit i = hooks_[i]
    bool broken_ = false;
    bool stalled_ = false;
    std::vector<std::string> hook_warnings_;
};

}  // namespace ses::policy
