// hooks.cpp -- see hooks.hpp.
#include "policy/hooks.hpp"

#include <cctype>

namespace ses::policy {

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
     "{action = \"hold\"|\"tempfail\"|\"reject\"|\"accept\", release_in = seconds, reply = \"...\"}",
     "Called when a message does not fit into what is left of today's quota. `hold` keeps the "
     "message in the MTA's hold queue and releases it after `release_in` seconds (default 24 h), "
     "charged to the day it is released; `tempfail` and `reject` answer the client with `reply`; "
     "`accept` sends it anyway and counts it.",
     R"(ses.on("on_over_quota", function(message, identity)
  if #message.recipients > 100 then
    return { action = "tempfail", reply = "452 4.5.3 too many recipients for today, retry tomorrow" }
  end
  return { action = "hold", release_in = 24 * 3600 }
end))",
     "hold for `[warmup] hold_duration`. `release_in` is 1 .. 31 622 400 seconds (default `[warmup] "
     "hold_duration`); `reply` is `\"451 4.7.1 text\"` or just `\"text\"` (451 4.7.1 for tempfail, 550 5.7.1 for "
     "reject), and its code must fit the action."},
};

constexpr FieldDef kIdentityFields[] = {
    {"name", "string", "`\"example.com\"`, or the IP address"},
    {"kind", "string", "`\"domain\"` or `\"ip\"`"},
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
constexpr ApiDef kSesApi[] = {
    {"ses.on(name, fn)",
     "registers `fn` as the hook `name` while the script loads; an unknown name or a second registration of "
     "one hook refuses the script."},
    {"ses.log(...)", "writes one log line (arguments joined by spaces); `print` does the same."},
    {"ses.now()", "the clock in seconds since the epoch (honours `SESMILTER_NOW`)."},
};
}  // namespace

std::span<const HookDef> hooks() { return kHooks; }
std::span<const ArgTypeDef> hook_argument_types() { return kArgTypes; }
std::span<const ApiDef> ses_api() { return kSesApi; }

const HookDef* find_hook(std::string_view name) {
    for (const HookDef& h : kHooks)
        if (h.name == name) return &h;
    return nullptr;
}

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

}  // namespace ses::policy
