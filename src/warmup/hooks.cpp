// hooks.cpp -- see hooks.hpp.
#include "warmup/hooks.hpp"

#include <cctype>
#include <cmath>
#include <utility>

namespace ses::warmup {

using policy::ApiDef;
using policy::ArgTypeDef;
using policy::FieldDef;
using policy::HookDef;
using policy::Value;

namespace {
constexpr HookDef kHooks[] = {
    {"daily_limit", "daily_limit(identity)",
     "number | {total = number, groups = {NAME = {limit = number, domains = {...}}}}",
     "The number of messages (recipients) the identity may send today. Called at every decision and "
     "release. A table adds per-group caps: recipients whose domain is in a group's list count "
     "against that group's limit as well as against the total.",
     R"(ses.on("daily_limit", function(identity)
  return PLAN[math.min(identity.level, #PLAN)]
end))",
     "the seed plan by level: 500, 1 000, 2 000, 5 000, 10 000, 20 000, 40 000, 60 000, 80 000, 100 000, "
     "150 000, 200 000, 300 000 ... 1 000 000 (level 20 and above)."},
    {"should_upgrade", "should_upgrade(identity, yesterday)", "boolean",
     "Called once per elapsed day at the day change: true moves the identity up one level. "
     "`yesterday` holds the counters of the day that just ended.",
     R"(ses.on("should_upgrade", function(identity, yesterday)
  local sent = math.max(yesterday.sent, 1)
  return yesterday.bounced / sent < 0.05 and yesterday.complained / sent < 0.001
end))",
     "up one level a day up to level 20, unless yesterday's bounce rate was >= 5 % or its complaint rate >= "
     "0.1 % of sent."},
    {"on_over_quota", "on_over_quota(message, identity)",
     "{action = \"hold\"|\"tempfail\"|\"reject\"|\"accept\"|\"overflow\", release_in = seconds, reply = "
     "\"...\", pool = \"name\"}",
     "Called when a message does not fit into what is left of today's quota. `hold` keeps the "
     "message in the MTA's hold queue and releases it after `release_in` seconds (default 24 h), "
     "charged to the day it is released; `tempfail` and `reject` answer the client with `reply`; "
     "`accept` sends it anyway and counts it; `overflow` (for an `ip` identity, docs/pools.md) sends it from "
     "the first address of the `[[pool]]` named `pool` that has room today, charged there.",
     R"(ses.on("on_over_quota", function(message, identity)
  if #message.recipients > 100 then
    return { action = "tempfail", reply = "452 4.5.3 too many recipients for today, retry tomorrow" }
  end
  return { action = "hold", release_in = 24 * 3600 }
end))",
     "hold for `[warmup] hold_duration`. `release_in` is 1 .. 31 622 400 seconds (default `[warmup] "
     "hold_duration`); `reply` is `\"451 4.7.1 text\"` or just `\"text\"` (451 4.7.1 for tempfail, 550 5.7.1 for "
     "reject), and its code must fit the action. An `overflow` that cannot be followed (the domain is over, the "
     "pool is unknown or has no room either) holds the message as the built-in rule does."},
};

constexpr FieldDef kIdentityFields[] = {
    {"name", "string", "`\"example.com\"`, or the IP address"},
    {"kind", "string", "`\"domain\"` or `\"ip\"`"},
    {"pool", "string", "for an `ip` identity, the `[[pool]]` the address is in (`\"\"` when none)"},
    {"level", "integer", "warm-up level, 1 on the first day"},
    {"started", "string", "first day seen, `\"YYYY-MM-DD\"`"},
    {"day", "integer", "calendar days since `started`, 1 on the first day"},
    {"date", "string", "the day being decided, `\"YYYY-MM-DD\"` in `[warmup] time_zone`"},
    {"weekday", "integer", "ISO 8601: 1 = Monday .. 7 = Sunday"},
    {"now", "integer", "seconds since the epoch"},
    {"day_ends_in", "integer", "seconds until the next day starts"},
    {"paused", "boolean", "paused by `sesctl warmup pause`"},
    {"today", "table", "`{sent, held, released, bounced, complained}` so far today"},
    {"groups", "table", "today's use of each quota group: `{gmail = 12, ...}`"},
};
constexpr FieldDef kDayFields[] = {
    {"date", "string", "the day that just ended, `\"YYYY-MM-DD\"`"},
    {"sent", "integer", "recipients accepted for delivery (released mail included)"},
    {"held", "integer", "recipients put on hold"},
    {"released", "integer", "recipients released from hold (also in `sent`)"},
    {"bounced", "integer", "bounces counted on that day"},
    {"complained", "integer", "complaints counted on that day"},
};
constexpr FieldDef kMessageFields[] = {
    {"sender", "string", "envelope sender"},
    {"recipients", "list", "`{ {address = \"a@gmail.com\", domain = \"gmail.com\"}, ... }`"},
    {"size", "integer", "bytes"},
    {"queue_id", "string", "the MTA's queue id"},
    {"headers", "table", "lower-case name -> first value, unfolded: `message.headers[\"subject\"]` (at most 200)"},
};
constexpr ArgTypeDef kArgTypes[] = {
    {"identity", "every hook", kIdentityFields},
    {"yesterday", "should_upgrade", kDayFields},
    {"message", "on_over_quota", kMessageFields},
};

constexpr double kMaxCount = 1e15;  // larger "limits" are nonsense

// A count: a finite number >= 0 (fractions are dropped).
bool to_count(const Value* v, uint64_t& out) {
    if (!v) return false;
    if (v->type == Value::Type::integer) {
        if (v->i < 0 || static_cast<double>(v->i) > kMaxCount) return false;
        out = static_cast<uint64_t>(v->i);
        return true;
    }
    if (v->type != Value::Type::number) return false;
    if (!std::isfinite(v->n) || v->n < 0 || v->n > kMaxCount) return false;
    out = static_cast<uint64_t>(std::floor(v->n));
    return true;
}

std::string read_domains(const Value* v, std::vector<std::string>& out) {
    if (!v || v->type != Value::Type::table) return "domains must be a list of strings";
    for (const auto& [k, d] : v->entries) {
        if (k.type != Value::Type::integer || d.type != Value::Type::string) return "domains must be a list of strings";
        std::string s = d.s;
        for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!s.empty() && s.front() == '.') s.erase(0, 1);
        if (s.empty()) return "an empty domain in a group";
        out.push_back(std::move(s));
    }
    return "";
}

Value counters_value(const Counters& c) {
    Value t = Value::table();
    t.entries.reserve(6);
    t.set("sent", Value::integer(static_cast<int64_t>(c.sent)));
    t.set("held", Value::integer(static_cast<int64_t>(c.held)));
    t.set("released", Value::integer(static_cast<int64_t>(c.released)));
    t.set("bounced", Value::integer(static_cast<int64_t>(c.bounced)));
    t.set("complained", Value::integer(static_cast<int64_t>(c.complained)));
    return t;
}

}  // namespace

std::span<const HookDef> hook_defs() { return kHooks; }
std::span<const ArgTypeDef> hook_argument_types() { return kArgTypes; }

std::string_view action_name(Action a) {
    switch (a) {
        case Action::hold:
            return "hold";
        case Action::tempfail:
            return "tempfail";
        case Action::reject:
            return "reject";
        case Action::accept:
            return "accept";
        case Action::overflow:
            return "overflow";
    }
    return "hold";
}

Result<Reply> parse_reply(std::string_view s, Action a) {
    for (char c : s)
        if (c == '\r' || c == '\n' || c == '\0') return internal_error("reply contains a line break");
    char want = a == Action::reject ? '5' : '4';
    Reply r;
    auto digits = [](std::string_view t) {
        return t.size() == 3 && std::isdigit(static_cast<unsigned char>(t[0])) &&
               std::isdigit(static_cast<unsigned char>(t[1])) && std::isdigit(static_cast<unsigned char>(t[2]));
    };
    if (s.size() >= 3 && digits(s.substr(0, 3)) && (s.size() == 3 || s[3] == ' ')) {
        r.code = std::string(s.substr(0, 3));
        s = s.size() > 3 ? s.substr(4) : std::string_view{};
        if (r.code[0] != want)
            return internal_error("reply code " + r.code + " does not fit action " + std::string(action_name(a)));
        // Optional enhanced status code "x.y.z".
        size_t sp = s.find(' ');
        std::string_view first = s.substr(0, sp);
        if (first.size() >= 5 && first[0] == want && first[1] == '.' &&
            first.find_first_not_of("0123456789.") == std::string_view::npos) {
            r.xcode = std::string(first);
            s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
        }
    } else {
        r.code = a == Action::reject ? "550" : "451";
    }
    if (r.xcode.empty()) r.xcode = a == Action::reject ? "5.7.1" : "4.7.1";
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) return internal_error("reply text is empty");
    r.text = std::string(s);
    return r;
}

Value to_value(const IdentityView& id) {
    Value t = Value::table();
    t.entries.reserve(12);
    t.set("name", Value::string(id.name));
    t.set("kind", Value::string(id.kind));
    t.set("pool", Value::string(id.pool));
    t.set("level", Value::integer(id.level));
    t.set("started", Value::string(id.started));
    t.set("day", Value::integer(id.day));
    t.set("date", Value::string(id.date));
    t.set("weekday", Value::integer(id.weekday));
    t.set("now", Value::integer(id.now));
    t.set("day_ends_in", Value::integer(id.day_ends_in));
    t.set("paused", Value::boolean(id.paused));
    t.set("today", counters_value(id.today));
    Value g = Value::table();
    for (const GroupUse& u : id.groups) g.set(u.name, Value::integer(static_cast<int64_t>(u.sent)));
    t.set("groups", std::move(g));
    return t;
}

Value to_value(const DayView& d) {
    Value t = counters_value(d.counters);
    t.set("date", Value::string(d.date));
    return t;
}

Value to_value(const MessageView& m) {
    Value t = Value::table();
    t.entries.reserve(5);
    t.set("sender", Value::string(m.sender));
    t.set("size", Value::integer(static_cast<int64_t>(m.size)));
    t.set("queue_id", Value::string(m.queue_id));
    Value r = Value::table();
    r.entries.reserve(m.recipients.size());
    for (const Recipient& x : m.recipients) {
        Value e = Value::table();
        e.entries.reserve(2);
        e.set("address", Value::string(x.address));
        e.set("domain", Value::string(x.domain));
        r.append(std::move(e));
    }
    t.set("recipients", std::move(r));
    Value h = Value::table();
    for (const auto& [name, value] : m.headers)
        if (!h.get(name)) h.set(name, Value::string(value));  // the first occurrence wins
    t.set("headers", std::move(h));
    return t;
}

Result<Limit> limit_from(const Value& v) {
    Limit out;
    if (to_count(&v, out.total)) return out;
    if (v.type != Value::Type::table)
        return internal_error("returned " + std::string(v.type_name()) + ", expected a number >= 0 or a table");
    if (!to_count(v.get("total"), out.total)) return internal_error("table without a number `total` >= 0");
    const Value* groups = v.get("groups");
    if (!groups || groups->type == Value::Type::nil) return out;
    if (groups->type != Value::Type::table) return internal_error("`groups` must be a table");
    for (const auto& [k, g] : groups->entries) {
        if (k.type != Value::Type::string) return internal_error("group names must be strings");
        Group grp;
        grp.name = k.s;
        if (g.type != Value::Type::table) return internal_error("group " + grp.name + " must be a table");
        if (!to_count(g.get("limit"), grp.limit))
            return internal_error("group " + grp.name + " needs a number `limit` >= 0");
        std::string e = read_domains(g.get("domains"), grp.domains);
        if (!e.empty()) return internal_error("group " + grp.name + ": " + e);
        out.groups.push_back(std::move(grp));
    }
    return out;
}

Result<bool> upgrade_from(const Value& v) {
    if (v.type != Value::Type::boolean)
        return internal_error("returned " + std::string(v.type_name()) + ", expected a boolean");
    return v.b;
}

Result<OverQuota> over_quota_from(const Value& v, int64_t default_hold) {
    OverQuota out;
    if (v.type != Value::Type::table)
        return internal_error("returned " + std::string(v.type_name()) + ", expected a table");
    const Value* a = v.get("action");
    if (!a || a->type != Value::Type::string) return internal_error("`action` must be a string");
    if (a->s == "hold")
        out.action = Action::hold;
    else if (a->s == "tempfail")
        out.action = Action::tempfail;
    else if (a->s == "reject")
        out.action = Action::reject;
    else if (a->s == "accept")
        out.action = Action::accept;
    else if (a->s == "overflow")
        out.action = Action::overflow;
    else
        return internal_error("unknown action \"" + a->s + "\"");
    out.release_in = default_hold;
    if (const Value* r = v.get("release_in"); r && r->type != Value::Type::nil) {
        uint64_t s = 0;
        if (!to_count(r, s) || s == 0 || s > 366ull * 86400)
            return internal_error("`release_in` must be 1 .. 31622400 seconds");
        out.release_in = static_cast<int64_t>(s);
    }
    if (out.action == Action::overflow) {
        const Value* p = v.get("pool");
        if (!p || p->type != Value::Type::string || p->s.empty())
            return internal_error("`overflow` needs `pool`, the name of a [[pool]]");
        out.pool = p->s;
    }
    if (out.action == Action::tempfail || out.action == Action::reject) {
        std::string text = out.action == Action::reject ? "daily sending quota exceeded"
                                                        : "daily sending quota exceeded, try again later";
        const Value* r = v.get("reply");
        if (r && r->type == Value::Type::string)
            text = r->s;
        else if (r && r->type != Value::Type::nil)
            return internal_error("`reply` must be a string");
        auto rep = parse_reply(text, out.action);
        if (!rep) return internal_error("reply: " + rep.error().what);
        out.reply = *rep;
    }
    return out;
}

namespace {
// The hook arguments, moved into place: a braced list would copy each table
// (an initializer_list's elements are const), which was a tenth of a Lua
// warm-up decision's instructions (callgrind, docs/PERFORMANCE.md #16).
template <class... V>
std::vector<Value> arguments(V&&... v) {
    std::vector<Value> out;
    out.reserve(sizeof...(V));
    (out.push_back(std::forward<V>(v)), ...);
    return out;
}

template <class R, class F>
Result<R> on_runtime(policy::LuaRuntime& rt, std::string_view hook, const std::vector<Value>& args, F&& convert) {
    auto v = rt.call(hook, args);
    if (!v) return v.error();
    auto r = convert(*v);
    if (!r) return internal_error(std::string(hook) + ": " + r.error().what);
    return r;
}
}  // namespace

Result<Limit> daily_limit(policy::LuaRuntime& rt, const IdentityView& id) {
    return on_runtime<Limit>(rt, "daily_limit", arguments(to_value(id)), limit_from);
}

Result<bool> should_upgrade(policy::LuaRuntime& rt, const IdentityView& id, const DayView& y) {
    return on_runtime<bool>(rt, "should_upgrade", arguments(to_value(id), to_value(y)), upgrade_from);
}

Result<OverQuota> on_over_quota(policy::LuaRuntime& rt, const MessageView& m, const IdentityView& id,
                                int64_t default_hold) {
    return on_runtime<OverQuota>(rt, "on_over_quota", arguments(to_value(m), to_value(id)),
                                 [&](const Value& v) { return over_quota_from(v, default_hold); });
}

Limit daily_limit(policy::Policy& p, const IdentityView& id, const std::function<Limit()>& fallback) {
    return p.decide<Limit>(
        "daily_limit", [&] { return arguments(to_value(id)); }, limit_from, fallback);
}

bool should_upgrade(policy::Policy& p, const IdentityView& id, const DayView& y,
                    const std::function<bool()>& fallback) {
    return p.decide<bool>(
        "should_upgrade", [&] { return arguments(to_value(id), to_value(y)); }, upgrade_from, fallback);
}

OverQuota on_over_quota(policy::Policy& p, const MessageView& m, const IdentityView& id, int64_t default_hold,
                        const std::function<OverQuota()>& fallback) {
    return p.decide<OverQuota>(
        "on_over_quota", [&] { return arguments(to_value(m), to_value(id)); },
        [&](const Value& v) { return over_quota_from(v, default_hold); }, fallback);
}

}  // namespace ses::warmup
