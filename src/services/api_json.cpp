// api_json.cpp -- see api_json.hpp.
#include "services/api_json.hpp"

#include "util/clock.hpp"
#include "util/strings.hpp"
#include "warmup/timezone.hpp"

namespace ses::services::api {
namespace {

std::optional<int32_t> parse_day(const records::MessageStore& s, const std::string& text) {
    auto t = clock::parse_rfc3339(text);
    if (!t) return std::nullopt;
    return s.day_of(*t);
}

// Rates over the recipients sesmilter accepted (AcceptedCount).
json rates(const records::Counters& k) {
    auto rate = [&](records::Counter n) {
        return k[records::accepted] ? double(k[n]) / double(k[records::accepted]) : 0.0;
    };
    return json{{"DeliveredRate", rate(records::delivered)},      {"OpenedRate", rate(records::unique_opens)},
                {"ClickedRate", rate(records::unique_clicks)},    {"BounceRate", rate(records::bounces)},
                {"UnsubscribeRate", rate(records::unsubscribes)}, {"ComplaintRate", rate(records::complaints)}};
}

json counters_json(const records::Counters& k) {
    json j = json::object();
    for (size_t i = 0; i < records::kCounters; ++i)
        j[std::string(records::counter_name(static_cast<records::Counter>(i)))] = k[i];
    return j;
}

}  // namespace

std::string day_text(int32_t day) { return clock::format_rfc3339(int64_t(day) * 86400).substr(0, 10); }

json recipient_status(const records::MessageRecord& m, const records::RecipientRecord& r) {
    const auto& st = r.state;
    return json{{"MessageId", m.id},
                {"To", r.address},
                {"SendStatus", st.send_status},
                {"DeliverStatus", static_cast<int>(st.deliver)},
                {"DeliverMessage", st.deliver_message},
                {"RequestTime", st.request_time},
                {"DeliverTime", st.deliver_time},
                {"UserOpened", st.opened},
                {"UserClicked", st.clicked},
                {"UserUnsubscribed", st.unsubscribed},
                {"UserComplainted", st.complained},
                {"BounceType", std::string(records::bounce_type_name(st.bounce))},
                {"QueueId", m.queue_id},
                {"Identity", m.identity},
                {"From", m.from},
                {"Subject", m.subject},
                {"Pool", m.pool},
                {"SourceAddress", m.source_address},
                {"OverflowFrom", m.overflow_from},
                {"Simulated", m.simulated || st.simulated}};
}

json status_list(const std::vector<records::MessageRecord>& found, const std::optional<std::string>& recipient) {
    json list = json::array();
    for (const auto& m : found)
        for (const auto& rr : m.recipients)
            if (!recipient || str::lower(rr.address) == str::lower(*recipient)) list.push_back(recipient_status(m, rr));
    return json{{"EmailStatusList", list}};
}

Result<StatsQuery> parse_stats_query(const records::MessageStore& s, const std::optional<std::string>& from,
                                     const std::optional<std::string>& to, const std::optional<std::string>& identity,
                                     const std::optional<std::string>& mailbox_domain, bool simulated) {
    StatsQuery q;
    q.from = q.to = s.day_of(clock::now());
    if (from) {
        auto p = parse_day(s, *from);
        if (!p) return Error{"from: not a date (YYYY-MM-DD): " + *from, {}};
        q.from = *p;
    }
    if (to) {
        auto p = parse_day(s, *to);
        if (!p) return Error{"to: not a date (YYYY-MM-DD): " + *to, {}};
        q.to = *p;
    }
    if (q.to < q.from) return Error{"to is before from", {}};
    if (identity) q.identity = str::lower(*identity);
    if (mailbox_domain) q.group = s.mailbox_group("x@" + *mailbox_domain);
    q.simulated = simulated;
    return q;
}

StatsTable collect_stats(records::MessageStore& s, store::Txn& txn, const StatsQuery& q) {
    StatsTable t;
    for (int32_t d = q.from; d <= q.to; ++d) t.days[d] = {};
    // The real funnel and the simulator's are never mixed: one or the other.
    for (const auto& row : s.stats(txn, q.from, q.to)) {
        if (row.simulated != q.simulated) continue;
        if (q.identity && str::lower(row.identity) != *q.identity) continue;
        if (q.group && row.mailbox_group != *q.group) continue;
        for (size_t i = 0; i < records::kCounters; ++i) {
            t.days[row.day][i] += row.counters[i];
            t.total[i] += row.counters[i];
        }
    }
    return t;
}

json stats(const StatsTable& t, const StatsQuery& q) {
    json daily = json::array();
    for (const auto& [d, k] : t.days) {
        json j = counters_json(k);
        j["Date"] = day_text(d);
        j.update(rates(k));
        daily.push_back(j);
    }
    json total = counters_json(t.total);
    total.update(rates(t.total));
    return json{{"From", day_text(q.from)},
                {"To", day_text(q.to)},
                {"Identity", q.identity.value_or("")},
                {"ReceivingMailboxType", q.group.value_or("")},
                {"Simulated", q.simulated},
                {"DailyVolumes", daily},
                {"Total", total}};
}

json warmup_counters(const warmup::Counters& c) {
    return json{{"sent", c.sent},
                {"held", c.held},
                {"released", c.released},
                {"bounced", c.bounced},
                {"complained", c.complained}};
}

json warmup_identity(const warmup::IdentityStatus& s) {
    json groups = json::object();
    for (const auto& g : s.limit.groups) {
        auto it = s.usage.groups.find(g.name);
        groups[g.name] = {
            {"limit", g.limit}, {"used", it == s.usage.groups.end() ? 0 : it->second}, {"domains", g.domains}};
    }
    json history = json::array();
    for (const auto& h : s.history)
        history.push_back({{"at", clock::format_rfc3339(h.at)},
                           {"day", warmup::date_string(h.day)},
                           {"from", h.from},
                           {"to", h.to},
                           {"reason", h.reason}});
    json j{{"identity", s.id.name},
           {"kind", warmup::kind_name(s.id.kind)},
           {"level", s.state.level},
           {"started", warmup::date_string(s.state.started)},
           {"day", s.today - s.state.started + 1},
           {"date", warmup::date_string(s.today)},
           {"paused", s.state.paused},
           {"limit", s.limit.total},
           {"used", s.usage.sent},
           {"scope", s.fleet ? "fleet" : "host"},
           {"remaining", s.remaining},
           {"today", warmup_counters(s.counters)},
           {"groups", groups},
           {"held_messages", s.held_messages},
           {"held_recipients", s.held_recipients},
           {"next_day_at", clock::format_rfc3339(s.next_day_at)},
           {"upgrade_expected", s.upgrade_expected},
           {"next_level", s.upgrade_expected ? s.state.level + 1 : s.state.level},
           {"history", history}};
    if (s.forecast) j["forecast"] = warmup_forecast(*s.forecast);
    return j;
}

json warmup_forecast(const warmup::Forecast& f) {
    json plan = json::array();
    for (const auto& d : f.days)
        plan.push_back({{"date", warmup::date_string(d.day)}, {"level", d.level}, {"limit", d.limit}});
    const bool reached = f.reached >= 0;
    return json{
        {"reached", reached},
        {"days", reached ? json(f.reached) : json(nullptr)},
        {"date", reached ? json(warmup::date_string(f.days[static_cast<size_t>(f.reached)].day)) : json(nullptr)},
        {"note", f.note},
        {"plan", plan}};
}

json warmup_all(warmup::Engine& eng, const std::vector<warmup::IdentityStatus>& list) {
    json arr = json::array();
    for (const auto& s : list) arr.push_back(warmup_identity(s));
    return json{{"time_zone", eng.time_zone().name()},
                {"policy", eng.policy().describe()},
                {"policy_fallbacks", eng.policy().fallbacks()},
                {"policy_stalls", eng.policy().stalls()},
                {"identities", arr}};
}

json held(const std::vector<warmup::HeldMail>& list, int64_t now) {
    json arr = json::array();
    for (const auto& h : list) {
        json ids = json::array();
        for (const auto& id : h.identities) ids.push_back(id.str());
        arr.push_back({{"queue_id", h.queue_id},
                       {"sender", h.sender},
                       {"identities", ids},
                       {"recipients", h.recipients},
                       {"held_at", clock::format_rfc3339(h.held_at)},
                       {"release_at", clock::format_rfc3339(h.release_at)},
                       {"due", h.release_at <= now},
                       {"state", h.state == warmup::HeldMail::State::releasing ? "releasing" : "held"},
                       {"attempts", h.attempts}});
    }
    return json{{"held", arr}, {"count", list.size()}};
}

json event(const records::Event& e) {
    return json{{"EventId", std::to_string(e.seq)},
                {"Time", e.time},
                {"Type", std::string(records::event_name(e.type))},
                {"MessageId", e.message_id},
                {"To", e.recipient},
                {"BounceType", std::string(records::bounce_type_name(e.bounce))},
                {"Dsn", e.dsn},
                {"Text", e.text},
                {"Simulated", e.simulated}};
}

json failed_webhook(const records::OutboxEntry& e) {
    return json{{"EventId", std::to_string(e.event.seq)},
                {"Webhook", e.hook},
                {"Type", std::string(records::event_name(e.event.type))},
                {"Time", e.event.time},
                {"MessageId", e.event.message_id},
                {"To", e.event.recipient},
                {"Attempts", e.attempts},
                {"FailedAt", e.failed_at},
                {"LastError", e.last_error}};
}

}  // namespace ses::services::api
