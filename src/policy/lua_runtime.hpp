// lua_runtime.hpp -- one sandboxed Lua 5.4 state running a policy script.
//
// The state opens only base (without dofile, loadfile, load, collectgarbage,
// warn), string (without dump), table, math and utf8: no io, os, package,
// debug or coroutine, so a script can neither run programs, touch files,
// load C modules nor remove its limits.  Scripts are loaded as text only
// (bytecode is refused).  Every run -- the script's top level and each hook
// call -- is under lua_pcall with a traceback, an instruction budget (a
// count hook raising an error) and a memory cap (the allocator refuses to
// grow past it).  The script sees a `ses` table: ses.on(hook, fn) registers
// a hook while the script loads (an unknown name is an error), ses.log(text)
// writes one log line, ses.now() is the clock (honours SESMILTER_NOW); print
// logs too.
//
// Errors: load() fails on a syntax error, an error at top level, an unknown
// hook name, budget or memory; hook calls fail on an error in the hook, the
// budget, memory, or a result of the wrong shape.  After a failed call the
// runtime reports broken() and should be thrown away (the script may have
// been interrupted half-way through changing its globals).  Built with the
// C++ flavour of liblua (errors are exceptions, destructors run).
//
// Thread safety: none.  One runtime is used by one thread at a time; the
// Policy pool (policy.hpp) hands them out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "policy/hooks.hpp"
#include "util/result.hpp"

struct lua_State;

namespace ses::policy {

struct Limits {
    uint64_t instructions = 1'000'000;  // per run (top level, or one hook call)
    uint64_t memory = 16ull << 20;      // bytes per state
};

class LuaRuntime {
public:
    // `name` appears in error messages and tracebacks (usually the path).
    static Result<std::unique_ptr<LuaRuntime>> load(std::string_view source, std::string_view name,
                                                    const Limits& limits);
    ~LuaRuntime();
    LuaRuntime(const LuaRuntime&) = delete;
    LuaRuntime& operator=(const LuaRuntime&) = delete;

    bool has(std::string_view hook) const;  // registered by the script
    bool broken() const { return broken_; }
    uint64_t memory_used() const;

    Result<Limit> daily_limit(const IdentityView& id);
    Result<bool> should_upgrade(const IdentityView& id, const DayView& yesterday);
    Result<OverQuota> on_over_quota(const MessageView& m, const IdentityView& id, int64_t default_hold);

    struct Mem {
        uint64_t used = 0;
        uint64_t limit = 0;
    };

private:
    explicit LuaRuntime(const Limits& l) : limits_(l) { mem_.limit = l.memory; }
    // Runs fn(L) inside lua_pcall under the limits.  fn returns "" or a
    // complaint about the result.
    Status run(std::string_view what, const std::function<std::string(lua_State*)>& fn);

    Limits limits_;
    Mem mem_;
    lua_State* L_ = nullptr;
    unsigned registered_ = 0;  // bit i = hooks()[i]
    bool broken_ = false;
};

}  // namespace ses::policy
