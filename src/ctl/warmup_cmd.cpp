// warmup_cmd.cpp -- `sesctl warmup status|set-level|pause|resume|forecast|feedback`.
//
// Each command opens the store (shared with a running sesmilter) and the
// policy script of the configuration, does one short transaction and exits.
// The clock is ses::clock (SESMILTER_NOW, or `sesctl --now`).
#include "ctl/warmup_cmd.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>

#include "services/api_json.hpp"
#include "util/clock.hpp"
#include "warmup/timezone.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;
using warmup::IdentityKey;

using services::api::warmup_counters;
using services::api::warmup_identity;

void status_text(std::ostream& out, const warmup::IdentityStatus& s, const std::string& tz) {
    out << s.id.str() << " (" << warmup::kind_name(s.id.kind) << "): level " << s.state.level << ", day "
        << (s.today - s.state.started + 1) << " since " << warmup::date_string(s.state.started)
        << (s.state.paused ? ", PAUSED" : "") << "\n";
    if (s.fleet) {
        out << "  today " << warmup::date_string(s.today) << " (" << tz << "), fleet: limit " << s.limit.total
            << ", used " << s.usage.sent << ", remaining " << s.remaining << "; bounced " << s.counters.bounced
            << ", complained " << s.counters.complained << "; this host: released " << s.counters.released << ", held "
            << s.counters.held << "\n";
    } else {
        out << "  today " << warmup::date_string(s.today) << " (" << tz << "): limit " << s.limit.total << ", used "
            << s.usage.sent << ", remaining " << s.remaining << "; sent " << s.counters.sent << " (released "
            << s.counters.released << "), held " << s.counters.held << ", bounced " << s.counters.bounced
            << ", complained " << s.counters.complained << "\n";
    }
    for (const auto& g : s.limit.groups) {
        auto it = s.usage.groups.find(g.name);
        out << "  group " << g.name << ": " << (it == s.usage.groups.end() ? 0 : it->second) << " of " << g.limit
            << "\n";
    }
    out << "  waiting in hold: " << s.held_messages << " message(s), " << s.held_recipients << " recipient(s)\n";
    out << "  next upgrade at " << clock::format_rfc3339(s.next_day_at) << ": "
        << (s.state.paused       ? "none while paused"
            : s.upgrade_expected ? "to level " + std::to_string(s.state.level + 1) + " if today stays like this"
                                 : "held back by today's figures so far")
        << "\n";
    if (s.forecast && !s.forecast->days.empty()) {
        const auto& f = *s.forecast;
        const auto& top = f.days[static_cast<size_t>(f.reached >= 0 ? f.reached : static_cast<int>(f.days.size()) - 1)];
        if (f.reached >= 0)
            out << "  forecast: top level " << top.level << ", " << top.limit << "/day from "
                << warmup::date_string(top.day) << " (the curve: --json)\n";
        else
            out << "  forecast: level " << top.level << ", " << top.limit << "/day on " << warmup::date_string(top.day)
                << "; " << f.note << "\n";
    }
}

int status(Context& c) {
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    auto& eng = *w->engine;
    std::vector<warmup::IdentityStatus> list;
    if (!c.args.empty()) {
        auto s = eng.status(warmup::parse_identity(c.args[0]), true);
        if (!s) return fail(c, s.error().what);
        list.push_back(std::move(*s));
    } else {
        auto all = eng.status_all(true);
        if (!all) return fail(c, all.error().what);
        list = std::move(*all);
    }
    if (c.json) {
        // The fallbacks of this process's policy (computing the status asks
        // the hooks too); the daemon logs its own.
        if (!c.args.empty()) {
            json j = warmup_identity(list[0]);
            j["policy_fallbacks"] = eng.policy().fallbacks();
            j["policy_stalls"] = eng.policy().stalls();
            c.out << j.dump(2) << "\n";
        } else {
            c.out << services::api::warmup_all(eng, list).dump(2) << "\n";
        }
        return 0;
    }
    if (list.empty()) c.out << "no identity has sent mail yet\n";
    for (const auto& s : list) status_text(c.out, s, eng.time_zone().name());
    return 0;
}

int set_level(Context& c) {
    if (c.args.size() != 2) return fail(c, "usage: warmup set-level IDENTITY LEVEL", 2);
    char* end = nullptr;
    long level = std::strtol(c.args[1].c_str(), &end, 10);
    if (!end || *end || level < 1 || level > 1000000) return fail(c, "LEVEL must be a number >= 1", 2);
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    auto id = warmup::parse_identity(c.args[0]);
    if (Status s = w->engine->set_level(id, static_cast<uint32_t>(level)); !s) return fail(c, s.error().what);
    auto st = w->engine->status(id);
    if (!st) return fail(c, st.error().what);
    if (c.json)
        c.out << warmup_identity(*st).dump(2) << "\n";
    else
        c.out << id.str() << ": level " << st->state.level << ", limit today " << st->limit.total << "\n";
    return 0;
}

int pause_resume(Context& c, bool pause) {
    if (c.args.size() != 1)
        return fail(c, std::string("usage: warmup ") + (pause ? "pause" : "resume") + " IDENTITY", 2);
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    auto id = warmup::parse_identity(c.args[0]);
    if (Status s = w->engine->set_paused(id, pause); !s) return fail(c, s.error().what);
    if (c.json)
        c.out << json{{"identity", id.name}, {"kind", warmup::kind_name(id.kind)}, {"paused", pause}}.dump(2) << "\n";
    else
        c.out << id.str() << (pause ? ": paused (new mail is held)\n" : ": resumed\n");
    return 0;
}

int forecast(Context& c) {
    auto v = c.opt("volume");
    if (!v) return fail(c, "warmup forecast needs --volume N (messages a day)", 2);
    std::string vol = *v;
    if (auto slash = vol.find('/'); slash != std::string::npos) vol.resize(slash);  // "N/day"
    char* end = nullptr;
    unsigned long long volume = std::strtoull(vol.c_str(), &end, 10);
    if (!end || *end || volume == 0) return fail(c, "--volume must be a positive number (\"N\" or \"N/day\")", 2);
    int days = 365;
    if (auto d = c.opt("days")) days = std::max(1, std::atoi(d->c_str()));
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    IdentityKey id = c.args.empty() ? IdentityKey::domain("new-identity.invalid") : warmup::parse_identity(c.args[0]);
    auto f = w->engine->forecast(id, volume, days);
    if (!f) return fail(c, f.error().what);
    if (c.json) {
        json out{{"identity", c.args.empty() ? json(nullptr) : json(id.name)}, {"volume", volume}};
        out.update(services::api::warmup_forecast(*f));
        c.out << out.dump(2) << "\n";
        return 0;
    }
    c.out << "day        level  limit/day\n";
    for (const auto& d : f->days) c.out << warmup::date_string(d.day) << "  " << d.level << "  " << d.limit << "\n";
    if (f->reached >= 0)
        c.out << volume << "/day flows from " << warmup::date_string(f->days[static_cast<size_t>(f->reached)].day)
              << " (" << f->reached << " day(s) from today)\n";
    else
        c.out << volume << "/day is not reached: " << f->note << "\n";
    return 0;
}

int feedback(Context& c) {
    if (c.args.size() != 1)
        return fail(c, "usage: warmup feedback IDENTITY [--bounced N] [--complained N] [--date D]", 2);
    uint64_t b = std::strtoull(c.opt("bounced").value_or("0").c_str(), nullptr, 10);
    uint64_t k = std::strtoull(c.opt("complained").value_or("0").c_str(), nullptr, 10);
    std::optional<int32_t> day;
    if (auto d = c.opt("date")) {
        day = warmup::parse_date(*d);
        if (!day) return fail(c, "--date must be YYYY-MM-DD", 2);
    }
    auto w = open_warmup(c);
    if (!w) return fail(c, w.error().what);
    auto id = warmup::parse_identity(c.args[0]);
    if (Status s = w->engine->add_feedback(id, b, k, day); !s) return fail(c, s.error().what);
    int32_t d = day ? *day : w->engine->time_zone().day_of(clock::now());
    auto cnt = w->engine->counters(id, d);
    if (!cnt) return fail(c, cnt.error().what);
    if (c.json)
        c.out << json{{"identity", id.name}, {"date", warmup::date_string(d)}, {"counters", warmup_counters(*cnt)}}
                     .dump(2)
              << "\n";
    else
        c.out << id.str() << " " << warmup::date_string(d) << ": sent " << cnt->sent << ", bounced " << cnt->bounced
              << ", complained " << cnt->complained << "\n";
    return 0;
}

}  // namespace

Result<services::WarmupStack> open_warmup(const Context& c) { return services::open_warmup_stack(c.cfg); }

std::vector<Command> warmup_commands() {
    return {
        {"warmup status", "[IDENTITY]",
         "level, today's limit, used, remaining, held mail, the next upgrade and the forecast to the top of the plan",
         status},
        {"warmup set-level", "IDENTITY LEVEL", "set an identity's warm-up level (recorded in its history)", set_level},
        {"warmup pause", "IDENTITY", "hold all new mail of an identity until resumed",
         [](Context& c) { return pause_resume(c, true); }},
        {"warmup resume", "IDENTITY", "send again after a pause", [](Context& c) { return pause_resume(c, false); }},
        {"warmup forecast", "[IDENTITY] --volume N[/day] [--days MAX]",
         "the days until N messages a day flow under the current plan and reputation", forecast},
        {"warmup feedback", "IDENTITY [--bounced N] [--complained N] [--date YYYY-MM-DD]",
         "add bounces/complaints to a day's counters (normally fed from delivery reports)", feedback},
    };
}

}  // namespace ses::ctl
