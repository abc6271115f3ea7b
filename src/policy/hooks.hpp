// hooks.hpp -- the policy hooks: their registry and the values they see.
//
// A warm-up script registers functions with `ses.on(NAME, fn)`.  Every hook
// is declared once in hooks(), with its Lua signature, what it returns and an
// example; registering a name that is not declared there is a load error, so
// a misspelt hook cannot be silently ignored.  A hook that is not registered
// uses the built-in rule (builtin.hpp).
//
// The structs below are the C++ side of the hook arguments and results; the
// Lua runtime converts them to and from tables (docs/lua.md lists every
// field).  Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ses::policy {

struct HookDef {
    std::string_view name;       // "daily_limit"
    std::string_view signature;  // "daily_limit(identity)"
    std::string_view returns;    // "number | {total = n, groups = {...}}"
    std::string_view summary;
    std::string_view example;  // Lua
    std::string_view builtin;  // the rule used when the hook is not registered or fails
};

std::span<const HookDef> hooks();
const HookDef* find_hook(std::string_view name);

// The tables the hooks receive, field by field (for the generated
// reference, docs/lua-hooks.md).
struct FieldDef {
    std::string_view name, type, meaning;
};
struct ArgTypeDef {
    std::string_view name;     // "identity"
    std::string_view used_by;  // "every hook"
    std::span<const FieldDef> fields;
};
std::span<const ArgTypeDef> hook_argument_types();

// The `ses` table a script sees.
struct ApiDef {
    std::string_view signature, doc;
};
std::span<const ApiDef> ses_api();

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

enum class Action { hold, tempfail, reject, accept };
std::string_view action_name(Action a);

// on_over_quota's answer.
struct OverQuota {
    Action action = Action::hold;
    int64_t release_in = 86400;  // seconds, for hold
    Reply reply;                 // for tempfail / reject
};

// "451 4.7.1 text", "text" (with the default code for the action) -> Reply.
// Fails on CR/LF, on a code of the wrong class, or on empty text.
Result<Reply> parse_reply(std::string_view s, Action a);

}  // namespace ses::policy
