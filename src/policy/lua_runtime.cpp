// lua_runtime.cpp -- see lua_runtime.hpp.
#include "policy/lua_runtime.hpp"

#include <lua.hpp>

#include <chrono>
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <set>

#include "policy/lua_budget.hpp"
#include "policy/value.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::policy {

namespace {

constexpr const char* kHooksKey = "sesmilter.hooks";
constexpr const char* kLoadingKey = "sesmilter.loading";
constexpr const char* kHookDefsKey = "sesmilter.hookdefs";
constexpr int kMaxDepth = 16;           // of a result table
constexpr size_t kMaxEntries = 100000;  // in a result, all tables together
constexpr double kMaxCount = 1e15;      // larger "limits" are nonsense
constexpr size_t kCheckedAlloc = 4096;
constexpr const char* kInstructionBudget = "instruction budget exceeded";
constexpr const char* kTimeLimit = "time limit exceeded";

int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void* limited_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
    auto* m = static_cast<LuaRuntime::Mem*>(ud);
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        std::free(ptr);
        m->used -= old;
        return nullptr;
    }
    if (nsize > old) {
        if (m->used - old + nsize > m->limit) return nullptr;  // refuse to grow
        // Large allocations are where C functions (string.rep, table.concat)
        // spend their time without a hook firing: they check the deadline.
        if (nsize - old >= kCheckedAlloc && m->budget && (m->budget->tripped || m->budget->charge_and_check(0)))
            return nullptr;
    }
    void* p = std::realloc(ptr, nsize);
    if (!p) return nsize <= old ? ptr : nullptr;  // shrinking must not fail
    m->used = m->used - old + nsize;
    return p;
}

int on_panic(lua_State* L) {
    const char* m = lua_tostring(L, -1);
    log::error(std::string("policy: unprotected Lua error: ") + (m ? m : "?"));
    std::abort();  // a broken invariant: every call is protected
}

// Fires every Budget::step instructions.  Once tripped it fires on every
// instruction of this thread and raises again: whatever a script catches,
// the next instruction fails.
void budget_hook(lua_State* L, lua_Debug*) {
    Budget* b = budget_of(L);
    if (b->tripped || b->charge_and_check(static_cast<uint64_t>(b->step))) {
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "%s", b->why);
    }
}

int traceback(lua_State* L) {
    const char* m = lua_tostring(L, 1);
    luaL_traceback(L, L, m ? m : "(error object is not a string)", 1);
    return 1;
}

// ---- what a script can use to catch errors, re-raising the budget's ----

int finish_pcall(lua_State* L, int status, lua_KContext extra) {
    raise_if_tripped(L);
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - static_cast<int>(extra);
}

int l_pcall(lua_State* L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
}

// xpcall's message handler runs where the error is raised; an error raised
// by the count hook is raised with hooks off, so the script's handler must
// not run then (it could loop unchecked): a spent budget skips it.
int l_message_handler(lua_State* L) {
    if (budget_of(L)->tripped) return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

int l_xpcall(lua_State* L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, l_message_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);  // true, f below f's arguments; the handler stays at 2
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
}

// coroutine.resume and coroutine.close return errors as values: call the
// original (upvalue 1), then re-raise a spent budget.
// A coroutine killed by the count hook keeps hooks off (Lua leaves them
// off in a thread an error from a hook escaped), so closing it would run its
// __close handlers unchecked: nothing is called once the budget is spent.
int l_guarded(lua_State* L) {
    raise_if_tripped(L);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    raise_if_tripped(L);
    return lua_gettop(L);
}

// coroutine.wrap without upstream's closing of the coroutine on error (see
// l_guarded): the error is passed on, to-be-closed variables of a coroutine
// that failed are not closed.
int l_wrapped_resume(lua_State* L) {
    raise_if_tripped(L);
    lua_State* co = lua_tothread(L, lua_upvalueindex(1));
    int narg = lua_gettop(L);
    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0) return luaL_error(L, "cannot resume dead coroutine");
    if (!lua_checkstack(co, narg)) return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, narg);
    int nres = 0;
    int status = lua_resume(co, L, narg, &nres);
    raise_if_tripped(L);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) return luaL_error(L, "too many results to resume");
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return lua_error(L);
}

int l_wrap(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State* co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, l_wrapped_resume, 1);
    return 1;
}

// Finalizers run with hooks off, so an object with __gc could loop forever
// unchecked: refuse them.  (Lua marks an object for finalization only when
// its metatable has __gc at setmetatable time.)
int l_setmetatable(lua_State* L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        bool gc = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (gc) return luaL_error(L, "setmetatable: __gc metamethods are not allowed");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

void wrap_global(lua_State* L, const char* table, const char* name, lua_CFunction wrapper) {
    lua_getglobal(L, table);
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

// ---- the `ses` table ----

int l_on(lua_State* L) {
    const char* name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, kLoadingKey);
    bool loading = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!loading) return luaL_error(L, "ses.on: hooks are registered while the script loads");
    lua_getfield(L, LUA_REGISTRYINDEX, kHookDefsKey);
    const auto* defs = static_cast<const std::span<const HookDef>*>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    if (!defs || !find_hook(*defs, name)) {
        std::string known;
        if (defs)
            for (const HookDef& h : *defs) known += (known.empty() ? "" : ", ") + std::string(h.name);
        return luaL_error(L, "ses.on: unknown hook '%s' (known: %s)", name, known.c_str());
    }
    lua_getfield(L, LUA_REGISTRYINDEX, kHooksKey);
    if (lua_getfield(L, -1, name) != LUA_TNIL) return luaL_error(L, "ses.on: hook '%s' registered twice", name);
    lua_pop(L, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, name);
    return 0;
}

std::string join_args(lua_State* L) {
    std::string out;
    int n = lua_gettop(L);
    for (int i = 1; i <= n; ++i) {
        size_t len = 0;
        const char* s = luaL_tolstring(L, i, &len);
        if (i > 1) out += ' ';
        out.append(s, len);
        lua_pop(L, 1);
    }
    return out;
}

int l_log(lua_State* L) {
    log::info("policy: " + join_args(L));
    return 0;
}

int l_now(lua_State* L) {
    lua_pushinteger(L, static_cast<lua_Integer>(clock::now()));
    return 1;
}

int setup(lua_State* L) {
    luaL_requiref(L, "_G", luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
    lua_settop(L, 0);
    lua_pushcfunction(L, l_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, l_xpcall);
    lua_setglobal(L, "xpcall");
    wrap_global(L, "_G", "setmetatable", l_setmetatable);
    wrap_global(L, LUA_COLIBNAME, "resume", l_guarded);
    wrap_global(L, LUA_COLIBNAME, "close", l_guarded);
    lua_getglobal(L, LUA_COLIBNAME);
    lua_pushcfunction(L, l_wrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
    open_bounded_patterns(L);
    for (const char* name : {"dofile", "loadfile", "load", "collectgarbage", "warn", "require"}) {
        lua_pushnil(L);
        lua_setglobal(L, name);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_log);
    lua_setglobal(L, "print");

    lua_newtable(L);
    lua_pushcfunction(L, l_on);
    lua_setfield(L, -2, "on");
    lua_pushcfunction(L, l_log);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
    lua_setglobal(L, "ses");

    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, kHooksKey);
    lua_pushboolean(L, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, kLoadingKey);
    return 0;
}

// ---- C++ -> Lua and back ----

void push_value(lua_State* L, const Value& v) {
    switch (v.type) {
        case Value::Type::nil:
            lua_pushnil(L);
            return;
        case Value::Type::boolean:
            lua_pushboolean(L, v.b);
            return;
        case Value::Type::integer:
            lua_pushinteger(L, static_cast<lua_Integer>(v.i));
            return;
        case Value::Type::number:
            lua_pushnumber(L, v.n);
            return;
        case Value::Type::string:
            lua_pushlstring(L, v.s.data(), v.s.size());
            return;
        case Value::Type::table:
            luaL_checkstack(L, 3, "building a hook argument");
            lua_createtable(L, 0, static_cast<int>(v.entries.size()));
            for (const auto& [k, x] : v.entries) {
                push_value(L, k);
                push_value(L, x);
                lua_settable(L, -3);
            }
            return;
    }
}

// A result copied out of Lua: lists keep their order (1..n first), other
// keys follow in Lua's order.  Returns "" or a complaint.
std::string to_value(lua_State* L, int idx, Value& out, int depth, size_t& budget) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
        case LUA_TNIL:
            out = Value{};
            return "";
        case LUA_TBOOLEAN:
            out = Value::boolean(lua_toboolean(L, idx));
            return "";
        case LUA_TNUMBER:
            out = lua_isinteger(L, idx) ? Value::integer(lua_tointeger(L, idx)) : Value::number(lua_tonumber(L, idx));
            return "";
        case LUA_TSTRING: {
            size_t len = 0;
            const char* p = lua_tolstring(L, idx, &len);
            out = Value::string(std::string_view(p, len));
            return "";
        }
        case LUA_TTABLE:
            break;
        default:
            return std::string("a ") + luaL_typename(L, idx) + " cannot be returned";
    }
    if (depth >= kMaxDepth) return "tables nested too deep";
    luaL_checkstack(L, 3, "reading a hook result");
    out = Value::table();
    lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
    for (lua_Integer i = 1; i <= n; ++i) {
        if (budget-- == 0) return "a result with too many entries";
        lua_rawgeti(L, idx, i);
        Value x;
        std::string e = to_value(L, -1, x, depth + 1, budget);
        lua_pop(L, 1);
        if (!e.empty()) return e;
        out.entries.emplace_back(Value::integer(i), std::move(x));
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_isinteger(L, -2)) {
            lua_Integer k = lua_tointeger(L, -2);
            if (k >= 1 && k <= n) {
                lua_pop(L, 1);
                continue;
            }
        }
        if (budget-- == 0) {
            lua_pop(L, 2);
            return "a result with too many entries";
        }
        Value k, x;
        std::string e = to_value(L, -2, k, depth + 1, budget);
        if (e.empty()) e = to_value(L, -1, x, depth + 1, budget);
        lua_pop(L, 1);
        if (!e.empty()) {
            lua_pop(L, 1);
            return e;
        }
        out.entries.emplace_back(std::move(k), std::move(x));
    }
    return "";
}

// Hook calls: arguments are pushed and results read inside the protected
// call, so memory errors while building tables are caught too.
struct Call {
    const char* hook;
    const std::function<std::string(lua_State*)>* fn;
    std::string complaint;
};

int trampoline(lua_State* L) {
    auto* c = static_cast<Call*>(lua_touserdata(L, 1));
    c->complaint = (*c->fn)(L);
    return 0;
}

}  // namespace

void Budget::start() {
    used = 0;
    tripped = false;
    why = "";
    deadline_ns = time_limit_ms > 0 ? steady_ns() + time_limit_ms * 1'000'000 : 0;
}

bool Budget::charge_and_check(uint64_t n) {
    used += n;
    if (used > limit) {
        tripped = true;
        why = kInstructionBudget;
    } else if (int64_t d = deadline_ns.load(std::memory_order_relaxed); d && steady_ns() > d) {
        tripped = true;
        why = kTimeLimit;
    }
    return tripped;
}

Budget* budget_of(lua_State* L) { return *static_cast<Budget**>(lua_getextraspace(L)); }

void set_budget(lua_State* L, Budget* b) { *static_cast<Budget**>(lua_getextraspace(L)) = b; }

void charge(lua_State* L, uint64_t n) {
    Budget* b = budget_of(L);
    if (b && (b->tripped || b->charge_and_check(n))) luaL_error(L, "%s", b->why);
}

void raise_if_tripped(lua_State* L) {
    Budget* b = budget_of(L);
    if (b && b->tripped) luaL_error(L, "%s", b->why);
}

LuaRuntime::LuaRuntime(const Limits& l) : limits_(l) {
    mem_.limit = l.memory;
    mem_.budget = &budget_;
    budget_.limit = l.instructions;
    budget_.step = static_cast<int>(std::clamp<uint64_t>(l.instructions / 4, 1, 1000));
    budget_.time_limit_ms = l.time_limit_ms;
}

LuaRuntime::~LuaRuntime() {
    if (L_) lua_close(L_);
}

Status LuaRuntime::run(std::string_view what, const std::function<std::string(lua_State*)>& fn) {
    Call call{nullptr, &fn, {}};
    int base = lua_gettop(L_);
    lua_pushcfunction(L_, traceback);
    lua_pushcfunction(L_, trampoline);
    lua_pushlightuserdata(L_, &call);
    budget_.start();
    lua_sethook(L_, budget_hook, LUA_MASKCOUNT, budget_.step);
    int rc = lua_pcall(L_, 1, 0, base + 1);
    stalled_ = budget_.tripped;
    std::string msg;
    if (budget_.tripped) {
        // The error that came out names the spent limit unless the script
        // raised another on the way out (a __close handler, say).
        const char* m = rc != LUA_OK && rc != LUA_ERRMEM ? lua_tostring(L_, -1) : nullptr;
        msg = m ? m : budget_.why;
        if (msg.find(budget_.why) == std::string::npos) msg = std::string(budget_.why) + ": " + msg;
        if (budget_.why == std::string_view(kTimeLimit))
            msg += " (limit " + std::to_string(limits_.time_limit_ms) + " ms)";
    } else if (rc == LUA_ERRMEM) {
        msg = "memory limit (" + std::to_string(limits_.memory) + " bytes) exceeded";
    } else if (rc != LUA_OK) {
        const char* m = lua_tostring(L_, -1);
        msg = m ? m : "error (no message)";
    }
    lua_settop(L_, base);
    if (rc != LUA_OK || budget_.tripped) {
        broken_ = true;
        return internal_error(std::string(what) + ": " + msg);
    }
    if (!call.complaint.empty()) return internal_error(std::string(what) + ": " + call.complaint);
    return ok_status();
}

Result<std::unique_ptr<LuaRuntime>> LuaRuntime::load(std::string_view source, std::string_view name,
                                                     const Limits& limits, std::span<const HookDef> hooks) {
    std::unique_ptr<LuaRuntime> rt(new LuaRuntime(limits));
    rt->hooks_ = hooks;
    rt->L_ = lua_newstate(limited_alloc, &rt->mem_);
    if (!rt->L_) return internal_error("policy: cannot create a Lua state");
    lua_State* L = rt->L_;
    lua_atpanic(L, on_panic);
    set_budget(L, &rt->budget_);
    lua_pushlightuserdata(L, &rt->hooks_);
    lua_setfield(L, LUA_REGISTRYINDEX, kHookDefsKey);

    if (Status s = rt->run("setup",
                           [](lua_State* L) {
                               lua_pushcfunction(L, setup);
                               lua_call(L, 0, 0);
                               return std::string();
                           });
        !s)
        return s.error();

    std::string chunk = "@" + std::string(name);
    Status s = rt->run(name, [&](lua_State* L) {
        int rc = luaL_loadbufferx(L, source.data(), source.size(), chunk.c_str(), "t");
        if (rc != LUA_OK) lua_error(L);  // the message is on the stack
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, kLoadingKey);
        lua_call(L, 0, 0);
        lua_pushboolean(L, 0);
        lua_setfield(L, LUA_REGISTRYINDEX, kLoadingKey);
        return std::string();
    });
    if (!s) return s.error();

    // Which hooks did it register?
    lua_getfield(L, LUA_REGISTRYINDEX, kHooksKey);
    auto hs = rt->hooks_;
    for (size_t i = 0; i < hs.size(); ++i) {
        std::string n(hs[i].name);
        if (lua_getfield(L, -1, n.c_str()) == LUA_TFUNCTION) rt->registered_ |= 1u << i;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    // Globals that look like hooks but were not registered (read raw, in a
    // protected call: the script may have given _G a metatable).
    auto& warnings = rt->hook_warnings_;
    unsigned registered = rt->registered_;
    if (Status st = rt->run("check",
                            [&](lua_State* L) {
                                lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
                                for (size_t i = 0; i < hs.size(); ++i) {
                                    if (registered & (1u << i)) continue;
                                    std::string n(hs[i].name);
                                    lua_pushstring(L, n.c_str());
                                    if (lua_rawget(L, -2) == LUA_TFUNCTION)
                                        warnings.push_back("global function '" + n +
                                                           "' is not registered as a hook (use ses.on(\"" + n +
                                                           "\", fn)); the built-in rule decides " + n);
                                    lua_pop(L, 1);
                                }
                                return std::string();
                            });
        !st)
        return st.error();
    return rt;
}

bool LuaRuntime::has(std::string_view hook) const {
    auto hs = hooks_;
    for (size_t i = 0; i < hs.size(); ++i)
        if (hs[i].name == hook) return registered_ & (1u << i);
    return false;
}

uint64_t LuaRuntime::memory_used() const { return mem_.used; }

namespace {
// Pushes the registered hook function.
void push_hook(lua_State* L, const char* name) {
    lua_getfield(L, LUA_REGISTRYINDEX, kHooksKey);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
}
}  // namespace

Result<Value> LuaRuntime::call(std::string_view hook, const std::vector<Value>& args) {
    Value out;
    std::string name(hook);
    Status s = run(name, [&](lua_State* L) {
        push_hook(L, name.c_str());
        if (lua_type(L, -1) != LUA_TFUNCTION) return "hook " + name + " is not registered";
        luaL_checkstack(L, static_cast<int>(args.size()) + 2, "hook arguments");
        for (const Value& a : args) push_value(L, a);
        lua_call(L, static_cast<int>(args.size()), 1);
        size_t budget = kMaxEntries;
        return to_value(L, -1, out, 0, budget);
    });
    if (!s) return s.error();
    return out;
}

}  // namespace ses::policy
