// lua_runtime.cpp -- see lua_runtime.hpp.
#include "policy/lua_runtime.hpp"

#include <lua.hpp>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <set>

#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::policy {

namespace {

constexpr const char* kHooksKey = "sesmilter.hooks";
constexpr const char* kLoadingKey = "sesmilter.loading";
constexpr double kMaxCount = 1e15;  // larger "limits" are nonsense

void* limited_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
    auto* m = static_cast<LuaRuntime::Mem*>(ud);
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        std::free(ptr);
        m->used -= old;
        return nullptr;
    }
    if (nsize > old && m->used - old + nsize > m->limit) return nullptr;  // refuse to grow
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

void budget_hook(lua_State* L, lua_Debug*) {
    lua_sethook(L, nullptr, 0, 0);
    luaL_error(L, "instruction budget exceeded");
}

int traceback(lua_State* L) {
    lua_sethook(L, nullptr, 0, 0);
    const char* m = lua_tostring(L, 1);
    luaL_traceback(L, L, m ? m : "(error object is not a string)", 1);
    return 1;
}

// ---- the `ses` table ----

int l_on(lua_State* L) {
    const char* name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, kLoadingKey);
    bool loading = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!loading) return luaL_error(L, "ses.on: hooks are registered while the script loads");
    if (!find_hook(name)) {
        std::string known;
        for (const HookDef& h : hooks()) known += (known.empty() ? "" : ", ") + std::string(h.name);
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
    lua_settop(L, 0);
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

// ---- C++ -> Lua ----

void set_int(lua_State* L, const char* k, int64_t v) {
    lua_pushinteger(L, static_cast<lua_Integer>(v));
    lua_setfield(L, -2, k);
}
void set_str(lua_State* L, const char* k, std::string_view v) {
    lua_pushlstring(L, v.data(), v.size());
    lua_setfield(L, -2, k);
}
void set_bool(lua_State* L, const char* k, bool v) {
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

void push_counters(lua_State* L, const Counters& c) {
    lua_createtable(L, 0, 5);
    set_int(L, "sent", static_cast<int64_t>(c.sent));
    set_int(L, "held", static_cast<int64_t>(c.held));
    set_int(L, "released", static_cast<int64_t>(c.released));
    set_int(L, "bounced", static_cast<int64_t>(c.bounced));
    set_int(L, "complained", static_cast<int64_t>(c.complained));
}

void push_identity(lua_State* L, const IdentityView& id) {
    lua_createtable(L, 0, 13);
    set_str(L, "name", id.name);
    set_str(L, "kind", id.kind);
    set_int(L, "level", id.level);
    set_str(L, "started", id.started);
    set_int(L, "day", id.day);
    set_str(L, "date", id.date);
    set_int(L, "weekday", id.weekday);
    set_int(L, "now", id.now);
    set_int(L, "day_ends_in", id.day_ends_in);
    set_bool(L, "paused", id.paused);
    push_counters(L, id.today);
    lua_setfield(L, -2, "today");
    lua_createtable(L, 0, static_cast<int>(id.groups.size()));
    for (const GroupUse& g : id.groups) set_int(L, g.name.c_str(), static_cast<int64_t>(g.sent));
    lua_setfield(L, -2, "groups");
}

void push_day(lua_State* L, const DayView& d) {
    push_counters(L, d.counters);
    set_str(L, "date", d.date);
}

void push_message(lua_State* L, const MessageView& m) {
    lua_createtable(L, 0, 5);
    set_str(L, "sender", m.sender);
    set_int(L, "size", static_cast<int64_t>(m.size));
    set_str(L, "queue_id", m.queue_id);
    lua_createtable(L, static_cast<int>(m.recipients.size()), 0);
    lua_Integer i = 1;
    for (const Recipient& r : m.recipients) {
        lua_createtable(L, 0, 2);
        set_str(L, "address", r.address);
        set_str(L, "domain", r.domain);
        lua_rawseti(L, -2, i++);
    }
    lua_setfield(L, -2, "recipients");
    lua_createtable(L, 0, static_cast<int>(m.headers.size()));
    for (const auto& [name, value] : m.headers) {
        if (lua_getfield(L, -1, name.c_str()) == LUA_TNIL) {  // the first occurrence wins
            lua_pop(L, 1);
            set_str(L, name.c_str(), value);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_setfield(L, -2, "headers");
}

// ---- Lua -> C++ ----

// A count: a finite number >= 0 (fractions are dropped).
bool to_count(lua_State* L, int idx, uint64_t& out) {
    if (lua_type(L, idx) != LUA_TNUMBER) return false;
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < 0 || static_cast<double>(v) > kMaxCount) return false;
        out = static_cast<uint64_t>(v);
        return true;
    }
    double d = lua_tonumber(L, idx);
    if (!std::isfinite(d) || d < 0 || d > kMaxCount) return false;
    out = static_cast<uint64_t>(std::floor(d));
    return true;
}

std::string type_of(lua_State* L, int idx) { return luaL_typename(L, idx); }

std::string read_domains(lua_State* L, int idx, std::vector<std::string>& out) {
    if (lua_type(L, idx) != LUA_TTABLE) return "domains must be a list of strings";
    lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
    for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING) return "domains must be a list of strings";
        std::string d = lua_tostring(L, -1);
        lua_pop(L, 1);
        for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!d.empty() && d.front() == '.') d.erase(0, 1);
        if (d.empty()) return "an empty domain in a group";
        out.push_back(std::move(d));
    }
    return "";
}

std::string read_limit(lua_State* L, int idx, Limit& out) {
    if (to_count(L, idx, out.total)) return "";
    if (lua_type(L, idx) != LUA_TTABLE) return "returned " + type_of(L, idx) + ", expected a number >= 0 or a table";
    lua_getfield(L, idx, "total");
    bool ok = to_count(L, -1, out.total);
    lua_pop(L, 1);
    if (!ok) return "table without a number `total` >= 0";
    if (lua_getfield(L, idx, "groups") == LUA_TNIL) {
        lua_pop(L, 1);
        return "";
    }
    int groups = lua_gettop(L);
    if (lua_type(L, groups) != LUA_TTABLE) return "`groups` must be a table";
    lua_pushnil(L);
    while (lua_next(L, groups)) {
        int g = lua_gettop(L);
        if (lua_type(L, g - 1) != LUA_TSTRING) return "group names must be strings";
        Group grp;
        grp.name = lua_tostring(L, g - 1);
        if (lua_type(L, g) != LUA_TTABLE) return "group " + grp.name + " must be a table";
        lua_getfield(L, g, "limit");
        bool lim_ok = to_count(L, -1, grp.limit);
        lua_pop(L, 1);
        if (!lim_ok) return "group " + grp.name + " needs a number `limit` >= 0";
        lua_getfield(L, g, "domains");
        std::string e = read_domains(L, lua_gettop(L), grp.domains);
        lua_pop(L, 1);
        if (!e.empty()) return "group " + grp.name + ": " + e;
        out.groups.push_back(std::move(grp));
        lua_pop(L, 1);  // the value; keep the key for lua_next
    }
    lua_pop(L, 1);
    return "";
}

std::string read_over_quota(lua_State* L, int idx, int64_t default_hold, OverQuota& out) {
    if (lua_type(L, idx) != LUA_TTABLE) return "returned " + type_of(L, idx) + ", expected a table";
    if (lua_getfield(L, idx, "action") != LUA_TSTRING) return "`action` must be a string";
    std::string a = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (a == "hold")
        out.action = Action::hold;
    else if (a == "tempfail")
        out.action = Action::tempfail;
    else if (a == "reject")
        out.action = Action::reject;
    else if (a == "accept")
        out.action = Action::accept;
    else
        return "unknown action \"" + a + "\"";
    out.release_in = default_hold;
    if (lua_getfield(L, idx, "release_in") != LUA_TNIL) {
        uint64_t s = 0;
        if (!to_count(L, -1, s) || s == 0 || s > 366ull * 86400) return "`release_in` must be 1 .. 31622400 seconds";
        out.release_in = static_cast<int64_t>(s);
    }
    lua_pop(L, 1);
    if (out.action == Action::tempfail || out.action == Action::reject) {
        std::string text = out.action == Action::reject ? "daily sending quota exceeded"
                                                        : "daily sending quota exceeded, try again later";
        int t = lua_getfield(L, idx, "reply");
        if (t == LUA_TSTRING)
            text = lua_tostring(L, -1);
        else if (t != LUA_TNIL)
            return "`reply` must be a string";
        lua_pop(L, 1);
        auto r = parse_reply(text, out.action);
        if (!r) return "reply: " + r.error().what;
        out.reply = *r;
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

LuaRuntime::~LuaRuntime() {
    if (L_) lua_close(L_);
}

Status LuaRuntime::run(std::string_view what, const std::function<std::string(lua_State*)>& fn) {
    Call call{nullptr, &fn, {}};
    int base = lua_gettop(L_);
    lua_pushcfunction(L_, traceback);
    lua_pushcfunction(L_, trampoline);
    lua_pushlightuserdata(L_, &call);
    int budget = static_cast<int>(std::min<uint64_t>(limits_.instructions, INT_MAX));
    lua_sethook(L_, budget_hook, LUA_MASKCOUNT, budget > 0 ? budget : 1);
    int rc = lua_pcall(L_, 1, 0, base + 1);
    lua_sethook(L_, nullptr, 0, 0);
    std::string msg;
    if (rc == LUA_ERRMEM) {
        msg = "memory limit (" + std::to_string(limits_.memory) + " bytes) exceeded";
    } else if (rc != LUA_OK) {
        const char* m = lua_tostring(L_, -1);
        msg = m ? m : "error (no message)";
    }
    lua_settop(L_, base);
    if (rc != LUA_OK) {
        broken_ = true;
        return internal_error(std::string(what) + ": " + msg);
    }
    if (!call.complaint.empty()) return internal_error(std::string(what) + ": " + call.complaint);
    return ok_status();
}

Result<std::unique_ptr<LuaRuntime>> LuaRuntime::load(std::string_view source, std::string_view name,
                                                     const Limits& limits) {
    std::unique_ptr<LuaRuntime> rt(new LuaRuntime(limits));
    rt->L_ = lua_newstate(limited_alloc, &rt->mem_);
    if (!rt->L_) return internal_error("policy: cannot create a Lua state");
    lua_State* L = rt->L_;
    lua_atpanic(L, on_panic);

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
    auto hs = hooks();
    for (size_t i = 0; i < hs.size(); ++i) {
        std::string n(hs[i].name);
        if (lua_getfield(L, -1, n.c_str()) == LUA_TFUNCTION) rt->registered_ |= 1u << i;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rt;
}

bool LuaRuntime::has(std::string_view hook) const {
    auto hs = hooks();
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

Result<Limit> LuaRuntime::daily_limit(const IdentityView& id) {
    Limit out;
    Status s = run("daily_limit", [&](lua_State* L) {
        push_hook(L, "daily_limit");
        push_identity(L, id);
        lua_call(L, 1, 1);
        return read_limit(L, lua_gettop(L), out);
    });
    if (!s) return s.error();
    return out;
}

Result<bool> LuaRuntime::should_upgrade(const IdentityView& id, const DayView& yesterday) {
    bool out = false;
    Status s = run("should_upgrade", [&](lua_State* L) {
        push_hook(L, "should_upgrade");
        push_identity(L, id);
        push_day(L, yesterday);
        lua_call(L, 2, 1);
        if (lua_type(L, -1) != LUA_TBOOLEAN) return "returned " + type_of(L, -1) + ", expected a boolean";
        out = lua_toboolean(L, -1);
        return std::string();
    });
    if (!s) return s.error();
    return out;
}

Result<OverQuota> LuaRuntime::on_over_quota(const MessageView& m, const IdentityView& id, int64_t default_hold) {
    OverQuota out;
    Status s = run("on_over_quota", [&](lua_State* L) {
        push_hook(L, "on_over_quota");
        push_message(L, m);
        push_identity(L, id);
        lua_call(L, 2, 1);
        return read_over_quota(L, lua_gettop(L), default_hold, out);
    });
    if (!s) return s.error();
    return out;
}

}  // namespace ses::policy
