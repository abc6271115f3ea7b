// hooks.hpp -- the warm-up's hooks: their declarations (the table the
// policy checks registrations against and the reference is generated from),
// the values they see and return, and the typed calls.
//
// daily_limit(identity), should_upgrade(identity, yesterday) and
// on_over_quota(message, identity) are declared once in hooks.cpp with their
// signature, returns, built-in rule and example (docs/lua-hooks.md is
// generated from it).  The structs below cross into Lua as policy::Value;
// results are checked here (a number that is not a count, an unknown action,
// a reply of the wrong class ... is an error, and the built-in rule answers).
// Pure functions and data; thread-safe (a LuaRuntime is not: one thread at a
// time).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/hooks.hpp"
#include "policy/lua_runtime.hpp"
#include "policy/policy.hpp"
#include "policy/value.hpp"
#include "util/result.hpp"

namespace ses::warmup {

std::span<const policy::HookDef> hook_defs();
std::span<const policy::ArgTypeDef> hook_argument_types();

// Per-day counters of one identity.  Each recipient counts as one message.
struct Counters {
    uint64_t sent = 0;      // accepted for delivery (including released mail)
    uint64_t held = 0;      // put on hold by the warm-up quota
    uint64_t released = 0;  // released from hold (also counted in sent)
    uint64_t bounced = 0;
    uint64_t complained = 0;
};

struct GroupUse {
    std::string name;
    uint64_t sent = 0;
};

// An identity as a hook sees it: `identity` in Lua.
struct IdentityView {
    std::string name;         // "example.com" / "192.0.2.10"
    std::string kind;         // "domain" | "ip"
    std::string pool;         // ip: the [[pool]] of the address, else ""
    uint32_t level = 1;       // warm-up level, 1 = first day of the plan
    std::string started;      // "YYYY-MM-DD", first day seen
    uint32_t day = 1;         // calendar days since started, 1 on the first day
    std::string date;         // today, "YYYY-MM-DD" in the warm-up time zone
    int weekday = 1;          // ISO 8601: 1 = Monday .. 7 = Sunday
    int64_t now = 0;          // seconds since the epoch
    int64_t day_ends_in = 0;  // seconds until the next day starts
    bool paused = false;
    Counters today;
    std::vector<GroupUse> groups;  // today's use of each quota group
};

// `yesterday` in should_upgrade.
struct DayView {
    std::string date;
    Counters counters;
};

struct Recipient {
    std::string address;
    std::string domain;  // lower case
};

// `message` in on_over_quota.
struct MessageView {
    std::string sender;
    std::vector<Recipient> recipients;
    uint64_t size = 0;
    std::string queue_id;
    std::vector<std::pair<std::string, std::string>> headers;  // lower-case name, unfolded value
};

// A quota group: recipients whose domain is listed share `limit` a day.
struct Group {
    std::string name;
    uint64_t limit = 0;
    std::vector<std::string> domains;  // lower case; a domain also matches its subdomains
};

// daily_limit's answer.
struct Limit {
    uint64_t total = 0;
    std::vector<Group> groups;
};

enum class Action { hold, tempfail, reject, accept, overflow };
std::string_view action_name(Action a);

// on_over_quota's answer.
struct OverQuota {
    Action action = Action::hold;
    int64_t release_in = 86400;  // seconds, for hold
    Reply reply;                 // for tempfail / reject
    std::string pool;            // for overflow: the [[pool]] to send from instead
};

// "451 4.7.1 text", "text" (with the default code for the action) -> Reply.
// Fails on CR/LF, on a code of the wrong class, or on empty text.
Result<Reply> parse_reply(std::string_view s, Action a);

// Hook arguments and results.
policy::Value to_value(const IdentityView& id);
policy::Value to_value(const DayView& d);
policy::Value to_value(const MessageView& m);
Result<Limit> limit_from(const policy::Value& v);
Result<bool> upgrade_from(const policy::Value& v);
Result<OverQuota> over_quota_from(const policy::Value& v, int64_t default_hold);

// The hooks on one Lua runtime (no fallback: errors come back).
Result<Limit> daily_limit(policy::LuaRuntime& rt, const IdentityView& id);
Result<bool> should_upgrade(policy::LuaRuntime& rt, const IdentityView& id, const DayView& yesterday);
Result<OverQuota> on_over_quota(policy::LuaRuntime& rt, const MessageView& m, const IdentityView& id,
                                int64_t default_hold);

// The hooks on the shared policy: `fallback` answers when the script has no
// such hook or it fails.
Limit daily_limit(policy::Policy& p, const IdentityView& id, const std::function<Limit()>& fallback);
bool should_upgrade(policy::Policy& p, const IdentityView& id, const DayView& yesterday,
                    const std::function<bool()>& fallback);
OverQuota on_over_quota(policy::Policy& p, const MessageView& m, const IdentityView& id, int64_t default_hold,
                        const std::function<OverQuota()>& fallback);

}  // namespace ses::warmup
