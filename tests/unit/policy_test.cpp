// policy_test.cpp -- the built-in rules, the shipped script, the sandbox and
// the fallback of the warm-up policy.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>
#include <chrono>
#include <thread>

#include "policy/hooks.hpp"
#include "policy/lua_runtime.hpp"
#include "policy/policy.hpp"
#include "policy/reference.hpp"
#include "warmup/builtin.hpp"
#include "warmup/hooks.hpp"

using namespace ses;
using namespace ses::policy;
namespace builtin = ses::warmup::builtin;
// The warm-up's hooks exercise the runtime (the runtime itself knows none).
using warmup::Action;
using warmup::Counters;
using warmup::daily_limit;
using warmup::DayView;
using warmup::hook_argument_types;
using warmup::hook_defs;
using warmup::IdentityView;
using warmup::Limit;
using warmup::MessageView;
using warmup::on_over_quota;
using warmup::OverQuota;
using warmup::parse_reply;
using warmup::should_upgrade;

namespace {

std::string repo_file(const std::string& rel) {
    auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
    std::ifstream in(root / rel);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

IdentityView identity(uint32_t level) {
    IdentityView id;
    id.name = "example.com";
    id.kind = "domain";
    id.level = level;
    id.date = "2026-11-23";
    id.weekday = 1;
    return id;
}

DayView day(uint64_t sent, uint64_t bounced, uint64_t complained) {
    DayView d;
    d.date = "2026-11-22";
    d.counters.sent = sent;
    d.counters.bounced = bounced;
    d.counters.complained = complained;
    return d;
}

Limits small_limits() { return Limits{200'000, 4ull << 20}; }

std::unique_ptr<LuaRuntime> load_ok(const std::string& src) {
    auto rt = LuaRuntime::load(src, "test.lua", small_limits(), hook_defs());
    INFO((rt ? std::string() : rt.error().what));
    REQUIRE(rt);
    return std::move(*rt);
}

// The Policy with the warm-up's built-in rules as fallbacks.
Limit limit_of(Policy& p, const IdentityView& id) {
    return daily_limit(p, id, [&] { return builtin::daily_limit(id); });
}
bool upgrade_of(Policy& p, const IdentityView& id, const DayView& y) {
    return should_upgrade(p, id, y, [&] { return builtin::should_upgrade(id, y); });
}
OverQuota over_quota_of(Policy& p, const MessageView& m, const IdentityView& id, int64_t hold) {
    return on_over_quota(p, m, id, hold, [&] { return builtin::on_over_quota(m, id, hold); });
}

std::string hook_script(const std::string& body) {
    return "ses.on('daily_limit', function(identity)\n" + body + "\nend)\n";
}

}  // namespace

TEST_CASE("built-in plan: seed table, clamped at both ends", "[policy]") {
    struct {
        uint32_t level;
        uint64_t limit;
    } cases[] = {
        {0, 500},     {1, 500},     {2, 1000},     {3, 2000},     {4, 5000},       {5, 10000},
        {6, 20000},   {7, 40000},   {8, 60000},    {9, 80000},    {10, 100000},    {11, 150000},
        {12, 200000}, {13, 300000}, {14, 400000},  {15, 500000},  {16, 600000},    {17, 700000},
        {18, 800000}, {19, 900000}, {20, 1000000}, {21, 1000000}, {1000, 1000000},
    };
    for (auto& c : cases) {
        INFO("level " << c.level);
        CHECK(builtin::plan_limit(c.level) == c.limit);
        CHECK(builtin::daily_limit(identity(c.level)).total == c.limit);
    }
    CHECK(builtin::max_level() == 20);
}

TEST_CASE("built-in upgrade rule: bounce >= 5 % or complaints >= 0.1 % block it", "[policy]") {
    struct {
        uint32_t level;
        uint64_t sent, bounced, complained;
        bool up;
    } cases[] = {
        {1, 500, 0, 0, true},  {1, 500, 24, 0, true},  {1, 500, 25, 0, false},  // 4.8 % / 5 %
        {1, 1000, 0, 0, true}, {1, 1000, 0, 1, false}, {1, 10000, 0, 9, true},  // 0.1 % / 0.09 %
        {1, 0, 0, 0, true},    {1, 0, 1, 0, false},    {19, 10, 0, 0, true},
        {20, 10, 0, 0, false}, {25, 10, 0, 0, false},
    };
    for (auto& c : cases) {
        INFO("level " << c.level << " sent " << c.sent << " bounced " << c.bounced << " complained " << c.complained);
        CHECK(builtin::should_upgrade(identity(c.level), day(c.sent, c.bounced, c.complained)) == c.up);
    }
}

TEST_CASE("replies from scripts are checked", "[policy]") {
    auto r = parse_reply("451 4.7.1 slow down", Action::tempfail);
    REQUIRE(r);
    CHECK(r->code == "451");
    CHECK(r->xcode == "4.7.1");
    CHECK(r->text == "slow down");
    r = parse_reply("quota reached", Action::reject);
    REQUIRE(r);
    CHECK(r->str() == "550 5.7.1 quota reached");
    r = parse_reply("452 try later", Action::tempfail);
    REQUIRE(r);
    CHECK(r->str() == "452 4.7.1 try later");
    CHECK_FALSE(parse_reply("550 5.7.1 no", Action::tempfail));
    CHECK_FALSE(parse_reply("451 4.7.1 no", Action::reject));
    CHECK_FALSE(parse_reply("bad\r\nRCPT TO:<x>", Action::reject));
    CHECK_FALSE(parse_reply("451 ", Action::tempfail));
}

TEST_CASE("hook registry declares the three hooks once", "[policy]") {
    CHECK(hook_defs().size() == 3);
    CHECK(find_hook(hook_defs(), "daily_limit"));
    CHECK(find_hook(hook_defs(), "should_upgrade"));
    CHECK(find_hook(hook_defs(), "on_over_quota"));
    CHECK_FALSE(find_hook(hook_defs(), "daily_limt"));
    for (const HookDef& h : hook_defs()) {
        CHECK_FALSE(h.signature.empty());
        CHECK_FALSE(h.example.empty());
        // Every example is a loadable script registering its hook.
        auto rt = LuaRuntime::load("PLAN = {500}\n" + std::string(h.example), "example", small_limits(), hook_defs());
        INFO(h.name << ": " << (rt ? "" : rt.error().what));
        REQUIRE(rt);
        CHECK((*rt)->has(h.name));
    }
}

TEST_CASE("the shipped lua/warmup.lua reproduces the built-in rules", "[policy]") {
    std::string src = repo_file("lua/warmup.lua");
    REQUIRE_FALSE(src.empty());
    auto rt = load_ok(src);
    CHECK(rt->has("daily_limit"));
    CHECK(rt->has("should_upgrade"));
    CHECK(rt->has("on_over_quota"));
    for (uint32_t level = 1; level <= 22; ++level) {
        auto l = daily_limit(*rt, identity(level));
        REQUIRE(l);
        CHECK(l->total == builtin::plan_limit(level));
        CHECK(l->groups.empty());
    }
    struct {
        uint32_t level;
        uint64_t sent, bounced, complained;
    } cases[] = {
        {1, 500, 0, 0}, {1, 500, 25, 0}, {1, 500, 24, 0}, {3, 1000, 0, 1},   {3, 10000, 0, 9},
        {5, 0, 0, 0},   {19, 1, 0, 0},   {20, 1, 0, 0},   {4, 2000, 100, 0},
    };
    for (auto& c : cases) {
        INFO("level " << c.level << " sent " << c.sent << " bounced " << c.bounced);
        auto up = should_upgrade(*rt, identity(c.level), day(c.sent, c.bounced, c.complained));
        REQUIRE(up);
        CHECK(*up == builtin::should_upgrade(identity(c.level), day(c.sent, c.bounced, c.complained)));
    }
    MessageView m;
    m.recipients = {{"a@gmail.com", "gmail.com"}};
    auto o = on_over_quota(*rt, m, identity(1), 3600);
    REQUIRE(o);
    CHECK(o->action == Action::hold);
    CHECK(o->release_in == 86400);
}

TEST_CASE("sandbox: loops, allocation, os.execute, errors and wrong types fail the call", "[policy][sandbox]") {
    SECTION("an endless loop runs out of its instruction budget") {
        auto rt = load_ok(hook_script("while true do end"));
        auto r = daily_limit(*rt, identity(1));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().what, Catch::Contains("instruction budget"));
        CHECK(rt->broken());
    }
    SECTION("unbounded allocation hits the memory cap") {
        auto rt = load_ok(hook_script("local t = {} local s = 'x' while true do s = s .. s t[#t + 1] = s end"));
        auto r = daily_limit(*rt, identity(1));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().what, Catch::Contains("memory limit"));
        CHECK(rt->memory_used() <= small_limits().memory);
    }
    SECTION("string.rep cannot be interrupted but cannot pass the memory cap") {
        auto rt = load_ok(hook_script("return #string.rep('x', 1 << 30)"));
        auto r = daily_limit(*rt, identity(1));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().what, Catch::Contains("memory limit"));
    }
    SECTION("os, io, require, load, debug and package are absent") {
        for (const char* expr : {"os.execute('touch /tmp/sesmilter-pwned')", "io.open('/etc/passwd')", "require('os')",
                                 "load('return 1')()", "debug.sethook()", "package.loaded.os", "dofile('/etc/passwd')",
                                 "loadfile('/etc/passwd')", "string.dump(print)", "collectgarbage('stop')"}) {
            INFO(expr);
            auto rt = load_ok(hook_script("local _ = " + std::string(expr) + " return 1"));
            auto r = daily_limit(*rt, identity(1));
            CHECK_FALSE(r);
        }
        CHECK_FALSE(std::filesystem::exists("/tmp/sesmilter-pwned"));
    }
    SECTION("a runtime error carries the script's name and a traceback") {
        auto rt = load_ok(hook_script("error('boom')"));
        auto r = daily_limit(*rt, identity(1));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().what, Catch::Contains("test.lua:2: boom"));
        CHECK_THAT(r.error().what, Catch::Contains("traceback"));
    }
    SECTION("wrong return types are refused") {
        for (const char* ret : {"return 'lots'", "return -1", "return 0/0", "return 1/0", "return nil",
                                "return {groups = {}}", "return {total = 5, groups = {g = {limit = 'x'}}}",
                                "return {total = 5, groups = {g = {limit = 1, domains = {3}}}}"}) {
            INFO(ret);
            auto rt = load_ok(hook_script(ret));
            CHECK_FALSE(daily_limit(*rt, identity(1)));
        }
        auto rt = load_ok("ses.on('should_upgrade', function() return 1 end)");
        CHECK_FALSE(should_upgrade(*rt, identity(1), day(1, 0, 0)));
        for (const char* ret :
             {"return 'hold'", "return {action = 'drop'}", "return {action = 'hold', release_in = -5}",
              "return {action = 'tempfail', reply = '550 5.7.1 no'}",
              "return {action = 'reject', reply = 'a\\r\\nb'}"}) {
            INFO(ret);
            auto r2 = load_ok(std::string("ses.on('on_over_quota', function() ") + ret + " end)");
            CHECK_FALSE(on_over_quota(*r2, MessageView{}, identity(1), 86400));
        }
    }
    SECTION("a well-formed table and fractional numbers are accepted") {
        auto rt = load_ok(hook_script(
            "return {total = 1000.7, groups = {gmail = {limit = 10, domains = {'GMail.com', 'googlemail.com'}}}}"));
        auto r = daily_limit(*rt, identity(1));
        REQUIRE(r);
        CHECK(r->total == 1000);
        REQUIRE(r->groups.size() == 1);
        CHECK(r->groups[0].name == "gmail");
        CHECK(r->groups[0].limit == 10);
        CHECK(r->groups[0].domains == std::vector<std::string>{"gmail.com", "googlemail.com"});
    }
}

TEST_CASE("scripts that cannot load are refused", "[policy][sandbox]") {
    struct {
        const char* src;
        const char* why;
    } cases[] = {
        {"ses.on('daily_limt', function() return 1 end)", "unknown hook 'daily_limt'"},
        {"ses.on('daily_limit', 5)", "function expected"},
        {"ses.on('daily_limit', function() end) ses.on('daily_limit', function() end)", "registered twice"},
        {"this is not lua", "syntax error"},
        {"\x1bLua\x54\x00", "binary chunk"},
        {"while true do end", "instruction budget"},
        {"local t = {} while true do t[#t+1] = string.rep('x', 65536) .. #t end", "memory limit"},
        {"error('refuse me')", "refuse me"},
    };
    for (auto& c : cases) {
        INFO(c.src);
        auto rt = LuaRuntime::load(c.src, "bad.lua", small_limits(), hook_defs());
        REQUIRE_FALSE(rt);
        CHECK_THAT(rt.error().what, Catch::Contains(c.why));
    }
    // Hooks can only be registered while loading.
    auto rt = load_ok(hook_script("ses.on('should_upgrade', function() return true end) return 1"));
    CHECK_FALSE(daily_limit(*rt, identity(1)));
}

TEST_CASE("hook arguments carry the identity and the message", "[policy]") {
    auto rt = load_ok(R"(
ses.on('daily_limit', function(id)
  assert(id.name == 'example.com' and id.kind == 'domain' and id.level == 3)
  assert(id.date == '2026-11-23' and id.weekday == 1 and id.today.sent == 7 and id.groups.gmail == 2)
  return id.today.sent + id.groups.gmail
end)
ses.on('on_over_quota', function(m, id)
  assert(m.sender == 'a@example.com' and #m.recipients == 2 and m.recipients[2].domain == 'gmail.com')
  assert(m.headers['subject'] == 'hello' and m.size == 123 and m.queue_id == 'ABC')
  return { action = 'tempfail', reply = '452 4.2.2 ' .. id.name .. ' over quota' }
end)
)");
    IdentityView id = identity(3);
    id.today.sent = 7;
    id.groups = {{"gmail", 2}};
    auto l = daily_limit(*rt, id);
    REQUIRE(l);
    CHECK(l->total == 9);
    MessageView m;
    m.sender = "a@example.com";
    m.recipients = {{"x@example.org", "example.org"}, {"y@gmail.com", "gmail.com"}};
    m.headers = {{"subject", "hello"}, {"subject", "second"}};
    m.size = 123;
    m.queue_id = "ABC";
    auto o = on_over_quota(*rt, m, id, 86400);
    INFO((o ? "" : o.error().what));
    REQUIRE(o);
    CHECK(o->action == Action::tempfail);
    CHECK(o->reply.str() == "452 4.2.2 example.com over quota");
}

TEST_CASE("Policy falls back to the built-in rule and keeps working", "[policy]") {
    Settings s;
    s.instruction_limit = 100'000;
    auto p = Policy::from_source(R"(
ses.on('daily_limit', function(id)
  if id.level == 2 then while true do end end
  if id.level == 3 then return 'nonsense' end
  return 7
end)
)",
                                 "t.lua", s, hook_defs());
    REQUIRE(p);
    Policy& pol = **p;
    CHECK(limit_of(pol, identity(1)).total == 7);
    CHECK(limit_of(pol, identity(2)).total == builtin::plan_limit(2));
    CHECK(limit_of(pol, identity(3)).total == builtin::plan_limit(3));
    CHECK(pol.fallbacks() == 2);
    CHECK(limit_of(pol, identity(1)).total == 7);  // a fresh state replaced the broken one
    // Hooks the script does not register use the built-in rule silently.
    CHECK(upgrade_of(pol, identity(1), day(100, 50, 0)) == false);
    CHECK(over_quota_of(pol, MessageView{}, identity(1), 3600).release_in == 3600);
    CHECK(pol.fallbacks() == 2);
}

TEST_CASE("Policy reload refuses a broken script and keeps the old one", "[policy]") {
    auto dir = std::filesystem::temp_directory_path() / ("ses-policy-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto path = (dir / "w.lua").string();
    std::ofstream(path) << "ses.on('daily_limit', function() return 11 end)";
    Settings s;
    s.script = path;
    auto p = Policy::open(s, hook_defs());
    REQUIRE(p);
    CHECK(limit_of(**p, identity(1)).total == 11);
    std::ofstream(path) << "ses.on('daily_limit', function() return 12 end";  // syntax error
    CHECK_FALSE((*p)->reload());
    CHECK(limit_of(**p, identity(1)).total == 11);
    std::ofstream(path) << "ses.on('daily_limit', function() return 12 end)";
    REQUIRE((*p)->reload());
    CHECK(limit_of(**p, identity(1)).total == 12);
    CHECK((*p)->generation() == 2);
    s.script = (dir / "missing.lua").string();
    CHECK_FALSE(Policy::open(s, hook_defs()));
    std::filesystem::remove_all(dir);
}

TEST_CASE("Policy is safe to call from many threads", "[policy]") {
    auto p = Policy::from_source("ses.on('daily_limit', function(id) return id.level * 10 end)", "t.lua", Settings{},
                                 hook_defs());
    REQUIRE(p);
    std::atomic<int> wrong{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) {
                uint32_t level = static_cast<uint32_t>(1 + (i + t) % 20);
                if (limit_of(**p, identity(level)).total != level * 10) wrong++;
                if (i == 250 && t == 0)
                    (void)(*p)->replace_source("ses.on('daily_limit', function(id) return id.level * 10 end)",
                                               "t2.lua");
            }
        });
    for (auto& t : ts) t.join();
    CHECK(wrong == 0);
    CHECK((*p)->fallbacks() == 0);
}

TEST_CASE("the example scripts load and do what they say", "[policy]") {
    SECTION("trusted_fast.lua") {
        auto rt = load_ok(repo_file("examples/lua/trusted_fast.lua"));
        IdentityView trusted = identity(2);
        trusted.name = "newsletter.example.com";
        CHECK(daily_limit(*rt, trusted)->total == 20000);
        CHECK(daily_limit(*rt, identity(2))->total == 1000);
        trusted.level = 8;
        CHECK(daily_limit(*rt, trusted)->total == 1000000);
        CHECK_FALSE(*should_upgrade(*rt, trusted, day(10, 0, 0)));
    }
    SECTION("per_provider.lua") {
        auto rt = load_ok(repo_file("examples/lua/per_provider.lua"));
        auto l = daily_limit(*rt, identity(1));
        REQUIRE(l);
        CHECK(l->total == 500);
        REQUIRE(l->groups.size() == 3);
        std::map<std::string, uint64_t> caps;
        for (auto& g : l->groups) caps[g.name] = g.limit;
        CHECK(caps["gmail"] == 200);
        CHECK(caps["outlook"] == 150);
        CHECK(caps["yahoo"] == 100);
    }
    SECTION("weekend_pause.lua") {
        auto rt = load_ok(repo_file("examples/lua/weekend_pause.lua"));
        IdentityView id = identity(3);
        id.weekday = 6;
        id.day_ends_in = 3600;
        CHECK(daily_limit(*rt, id)->total == 0);
        auto o = on_over_quota(*rt, MessageView{}, id, 86400);
        REQUIRE(o);
        CHECK(o->release_in == 3600 + 86400);  // Monday 00:00
        id.weekday = 7;
        CHECK(on_over_quota(*rt, MessageView{}, id, 86400)->release_in == 3600);
        CHECK_FALSE(*should_upgrade(*rt, id, day(0, 0, 0)));
        id.weekday = 1;
        CHECK_FALSE(*should_upgrade(*rt, id, day(0, 0, 0)));
        CHECK(daily_limit(*rt, id)->total == 2000);
        id.weekday = 6;
        CHECK(*should_upgrade(*rt, id, day(2000, 0, 0)));  // Friday judged at the change into Saturday
    }
}

// ---- a hook cannot run unbounded (issue #9 item 1) ----

namespace {

Limits escape_limits() { return Limits{1'000'000, 8ull << 20, 100}; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("escapes: a hook ends within its limits whatever it catches", "[policy][sandbox][escape]") {
    struct {
        const char* name;
        const char* body;
    } cases[] = {
        {"pcall loop", "while true do pcall(function() while true do end end) end"},
        {"pcall around the whole loop", "while true do pcall(function() while true do pcall(error) end end) end"},
        {"xpcall loop", "while true do xpcall(function() while true do end end, function(e) return e end) end"},
        {"xpcall handler loops", "while true do xpcall(error, function() while true do end end) end"},
        {"coroutine loop",
         "while true do local co = coroutine.create(function() while true do end end) coroutine.resume(co) end"},
        {"coroutine.wrap under pcall", "while true do pcall(coroutine.wrap(function() while true do end end)) end"},
        // The trim idiom is quadratic on spaces between two words (19 s with
        // stock Lua on 60 000).
        {"pattern on 60 000 spaces",
         "local s = 'x' .. string.rep(' ', 60000) .. 'x' while true do pcall(string.match, s, '^%s*(.-)%s*$') end"},
        {"one pattern call", "local s = 'x' .. string.rep(' ', 60000) .. 'x' return #s:match('^%s*(.-)%s*$')"},
        {"gsub backtracking", "local s = string.rep('a', 5000) return select(2, s:gsub('(.-)(.-)(.-)b', ''))"},
        {"plain find, long needle",
         "local h = string.rep('a', 2000000) local n = string.rep('a', 100000) .. 'b' "
         "while true do pcall(string.find, h, n, 1, true) end"},
        {"xpcall handler loops on a budget error",
         "while true do xpcall(function() while true do end end, function() while true do end end) end"},
        {"__close in a wrapped coroutine",
         "local f = coroutine.wrap(function() local x <close> = setmetatable({}, {__close = function() "
         "while true do end end}) while true do end end) while true do pcall(f) end"},
        {"__close at coroutine.close",
         "local co = coroutine.create(function() local x <close> = setmetatable({}, {__close = function() "
         "while true do end end}) while true do end end) pcall(coroutine.resume, co) "
         "while true do pcall(coroutine.close, co) end"},
        {"__close in the hook's own frame",
         "local x <close> = setmetatable({}, {__close = function() while true do end end}) while true do end"},
        {"string.rep bomb under the memory cap",
         "while true do pcall(function() for i = 1, 1e9 do local s = string.rep('x', 1 << 20) end end) end"},
    };
    for (auto& c : cases) {
        INFO(c.name);
        auto rt = LuaRuntime::load(hook_script(c.body), "hostile.lua", escape_limits(), hook_defs());
        REQUIRE(rt);
        auto t0 = std::chrono::steady_clock::now();
        auto r = daily_limit(**rt, identity(1));
        double took = seconds_since(t0);
        REQUIRE_FALSE(r);
        INFO(r.error().what);
        CHECK((*rt)->stalled());
        CHECK((*rt)->broken());
        CHECK(took < 1.0);
        CHECK_THAT(r.error().what,
                   Catch::Contains("instruction budget exceeded") || Catch::Contains("time limit exceeded"));
    }
}

TEST_CASE("escapes: the Policy falls back, counts the stall and stays usable", "[policy][escape]") {
    Settings s;
    s.instruction_limit = 1'000'000;
    s.time_limit_ms = 100;
    auto p = Policy::from_source(R"(
ses.on('daily_limit', function(id)
  if id.level == 2 then while true do pcall(function() while true do end end) end end
  if id.level == 3 then local s = 'x' .. string.rep(' ', 60000) .. 'x' return #s:match('^%s*(.-)%s*$') end
  return 7
end)
)",
                                 "hostile.lua", s, hook_defs());
    REQUIRE(p);
    Policy& pol = **p;
    auto t0 = std::chrono::steady_clock::now();
    CHECK(limit_of(pol, identity(2)).total == builtin::plan_limit(2));
    CHECK(limit_of(pol, identity(3)).total == builtin::plan_limit(3));
    CHECK(seconds_since(t0) < 2.0);
    CHECK(pol.stalls() == 2);
    CHECK(pol.fallbacks() == 2);
    CHECK(limit_of(pol, identity(1)).total == 7);
}

TEST_CASE("escapes: __gc finalizers are refused", "[policy][sandbox][escape]") {
    // Before, the finalizer ran with hooks off when the state closed (or at
    // the next collection) and never returned.
    auto t0 = std::chrono::steady_clock::now();
    {
        auto rt = LuaRuntime::load(hook_script("setmetatable({}, {__gc = function() while true do end end}) return 1"),
                                   "gc.lua", escape_limits(), hook_defs());
        REQUIRE(rt);
        auto r = daily_limit(**rt, identity(1));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().what, Catch::Contains("__gc"));
    }
    {
        auto rt = LuaRuntime::load("setmetatable({}, {__gc = false})", "gc.lua", escape_limits(), hook_defs());
        REQUIRE_FALSE(rt);
        CHECK_THAT(rt.error().what, Catch::Contains("__gc"));
    }
    // Other metatables still work, and a __gc added later marks nothing.
    auto rt =
        load_ok(hook_script("local mt = {__index = function(t, k) return 5 end} local t = setmetatable({}, mt) "
                            "mt.__gc = function() while true do end end return t.x"));
    auto r = daily_limit(*rt, identity(1));
    REQUIRE(r);
    CHECK(r->total == 5);
    rt.reset();  // closing the state runs no finalizer
    CHECK(seconds_since(t0) < 1.0);
}

TEST_CASE("bounded pattern functions keep Lua's semantics", "[policy][sandbox]") {
    auto rt = load_ok(hook_script(R"LUA(
  assert(("  hi there  "):match("^%s*(.-)%s*$") == "hi there")
  assert(select(2, ("a.b.c"):gsub("%.", "/")) == 2)
  assert(("x=1, y=2"):gsub("(%w+)=(%w+)", "%2=%1") == "1=x, 2=y")
  assert(("abc"):gsub("%w", function(c) return c:upper() end) == "ABC")
  assert(("hello"):gsub("l", {l = "L"}) == "heLLo")
  local n = 0 for w in ("one two three"):gmatch("%a+") do n = n + 1 end assert(n == 3)
  assert(("a+b"):find("+", 1, true) == 2)
  local s, e, cap = ("key = value"):find("(%w+)%s*=")
  assert(s == 1 and e == 5 and cap == "key")
  assert(("THE (quick) fox"):find("%((%a+)%)") == 5)
  assert(("[[x]]"):match("%b[]") == "[[x]]")
  assert(("THE (quick) fox"):match("%f[%a]%a+", 5) == "quick")
  assert(not pcall(string.match, "x", "("))
  return 1
)LUA"));
    auto r = daily_limit(*rt, identity(1));
    INFO((r ? "" : r.error().what));
    CHECK(r);
}

TEST_CASE("check_script warns about globals that look like hooks", "[policy]") {
    auto dir = std::filesystem::temp_directory_path() / ("ses-check-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    Settings s;
    s.script = (dir / "w.lua").string();
    std::ofstream(s.script) << "function daily_limit(identity) return 10 end\n"
                               "ses.on('should_upgrade', function() return true end)\n"
                               "function should_upgrade() return false end\n";
    auto w = check_script(s, hook_defs());
    REQUIRE(w);
    REQUIRE(w->size() == 1);
    CHECK_THAT(w->at(0), Catch::Contains("daily_limit") && Catch::Contains("ses.on"));
    std::ofstream(s.script) << "ses.on('daily_limit', function() return 10 end)\n";
    w = check_script(s, hook_defs());
    REQUIRE(w);
    CHECK(w->empty());
    std::ofstream(s.script) << "ses.on('daily_limt', function() return 10 end)\n";
    CHECK_FALSE(check_script(s, hook_defs()));
    std::filesystem::remove_all(dir);
}

TEST_CASE("the hook reference is generated from the hook table", "[policy][docs]") {
    std::string ref = lua_reference_markdown(hook_defs(), hook_argument_types());
    for (const HookDef& h : hook_defs()) {
        INFO(h.name);
        CHECK_FALSE(h.builtin.empty());
        CHECK_FALSE(h.summary.empty());
        CHECK_FALSE(h.returns.empty());
        CHECK_THAT(ref, Catch::Contains("### `" + std::string(h.signature) + "`"));
        CHECK_THAT(ref, Catch::Contains(std::string(h.example)));
        CHECK_THAT(ref, Catch::Contains(std::string(h.builtin)));
    }
    for (const ArgTypeDef& a : hook_argument_types())
        for (const FieldDef& f : a.fields) CHECK_THAT(ref, Catch::Contains("| `" + std::string(f.name) + "` |"));
    // The committed file is what the code prints (make docs-check does the same).
    CHECK(repo_file("docs/lua-hooks.md") == ref);
}
