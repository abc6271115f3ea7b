// status_cmd.cpp -- `sesctl status`, `sesctl stats` (`sesctl events`: events_cmd.cpp).
//
// Read-only views of the message records that sesmilter writes: one read
// transaction each, so they run beside the daemon at any time.  The JSON
// field names are the product's (docs/status.md).  Statistics rows of the
// mailbox simulator are left out of the funnel; `stats --simulated` shows
// them alone.
//
// Errors: a store that cannot be opened, or bad options, fail the command
// (exit 1 / 2) with a message; an unknown message id is an error.
#include "ctl/status_cmd.hpp"

#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "config/config.hpp"
#include "config/keys.hpp"
#include "ctl/open_store.hpp"
#include "records/message_store.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

struct Records {
    std::shared_ptr<store::Env> env;
    std::shared_ptr<records::MessageStore> store;
};

Result<Records> open_records(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return Error{"store: " + env.error().what, {}};
    records::StoreSettings s;
    s.mailbox_groups = c.cfg.get(config::key::records::mailbox_groups);
    auto recs = records::MessageStore::open(*env, std::move(s));
    if (!recs) return recs.error();
    return Records{*env, *recs};
}

std::string day_text(int32_t day) { return clock::format_rfc3339(int64_t(day) * 86400).substr(0, 10); }

// "YYYY-MM-DD" (or a full RFC 3339 time) as the store's day number.
std::optional<int32_t> parse_day(const records::MessageStore& s, const std::string& text) {
    auto t = clock::parse_rfc3339(text);
    if (!t) return std::nullopt;
    return s.day_of(*t);
}

json recipient_json(const records::MessageRecord& m, const records::RecipientRecord& r) {
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
                {"Simulated", m.simulated || st.simulated}};
}

void print_recipient(std::ostream& o, const records::MessageRecord& m, const records::RecipientRecord& r) {
    const auto& st = r.state;
    o << m.id << "  " << r.address << "  send=" << st.send_status << "  deliver=" << static_cast<int>(st.deliver)
      << " (" << records::deliver_name(st.deliver) << ")";
    if (st.bounce != records::BounceType::none) o << " " << records::bounce_type_name(st.bounce);
    o << "  requested " << clock::format_rfc3339(st.request_time);
    if (st.deliver_time) o << "  changed " << clock::format_rfc3339(st.deliver_time);
    o << "\n";
    if (m.simulated || st.simulated) o << "    (mailbox simulator)\n";
    if (!st.deliver_message.empty()) o << "    " << st.deliver_message << "\n";
}

int status(Context& c) {
    auto r = open_records(c);
    if (!r) return fail(c, r.error().what);
    auto txn = r->env->begin_read();
    if (!txn) return fail(c, txn.error().what);
    std::vector<records::MessageRecord> found;
    auto rcpt = c.opt("recipient");
    if (rcpt) {
        if (!c.args.empty()) return fail(c, "give a MESSAGE-ID or --recipient, not both", 2);
        int32_t day = r->store->day_of(clock::now());
        if (auto d = c.opt("date")) {
            auto p = parse_day(*r->store, *d);
            if (!p) return fail(c, "--date: not a date (YYYY-MM-DD): " + *d, 2);
            day = *p;
        }
        for (const auto& id : r->store->by_recipient(*txn, *rcpt, day))
            if (auto m = r->store->get(*txn, id)) found.push_back(std::move(*m));
    } else {
        if (c.args.size() != 1) return fail(c, "usage: sesctl status MESSAGE-ID | --recipient ADDR [--date D]", 2);
        auto m = r->store->get(*txn, c.args[0]);
        if (!m) return fail(c, "no message record " + c.args[0]);
        found.push_back(std::move(*m));
    }
    json list = json::array();
    for (auto& m : found)
        for (auto& rr : m.recipients)
            if (!rcpt || str::lower(rr.address) == str::lower(*rcpt)) {
                if (c.json)
                    list.push_back(recipient_json(m, rr));
                else
                    print_recipient(c.out, m, rr);
            }
    if (c.json)
        c.out << json{{"EmailStatusList", list}}.dump(2) << "\n";
    else if (found.empty())
        c.out << "no messages\n";
    return 0;
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

int stats(Context& c) {
    auto r = open_records(c);
    if (!r) return fail(c, r.error().what);
    int32_t today = r->store->day_of(clock::now());
    int32_t from = today, to = today;
    if (auto d = c.opt("from")) {
        auto p = parse_day(*r->store, *d);
        if (!p) return fail(c, "--from: not a date (YYYY-MM-DD): " + *d, 2);
        from = *p;
    }
    if (auto d = c.opt("to")) {
        auto p = parse_day(*r->store, *d);
        if (!p) return fail(c, "--to: not a date (YYYY-MM-DD): " + *d, 2);
        to = *p;
    }
    if (to < from) return fail(c, "--to is before --from", 2);
    std::optional<std::string> identity, group;
    if (auto i = c.opt("identity")) identity = str::lower(*i);
    if (auto g = c.opt("mailbox-domain")) group = r->store->mailbox_group("x@" + *g);
    auto txn = r->env->begin_read();
    if (!txn) return fail(c, txn.error().what);
    std::map<int32_t, records::Counters> days;
    for (int32_t d = from; d <= to; ++d) days[d] = {};
    records::Counters total{};
    // The real funnel and the simulator's are never mixed: one or the other.
    const bool simulated = c.flag("simulated");
    for (const auto& row : r->store->stats(*txn, from, to)) {
        if (row.simulated != simulated) continue;
        if (identity && str::lower(row.identity) != *identity) continue;
        if (group && row.mailbox_group != *group) continue;
        for (size_t i = 0; i < records::kCounters; ++i) {
            days[row.day][i] += row.counters[i];
            total[i] += row.counters[i];
        }
    }
    if (c.flag("csv")) {
        c.out << "Date";
        for (size_t i = 0; i < records::kCounters; ++i)
            c.out << "," << records::counter_name(static_cast<records::Counter>(i));
        c.out << "\n";
        for (auto& [d, k] : days) {
            c.out << day_text(d);
            for (auto v : k) c.out << "," << v;
            c.out << "\n";
        }
        return 0;
    }
    if (c.json) {
        json daily = json::array();
        for (auto& [d, k] : days) {
            json j = counters_json(k);
            j["Date"] = day_text(d);
            j.update(rates(k));
            daily.push_back(j);
        }
        json t = counters_json(total);
        t.update(rates(total));
        c.out << json{{"From", day_text(from)},
                      {"To", day_text(to)},
                      {"Identity", identity.value_or("")},
                      {"ReceivingMailboxType", group.value_or("")},
                      {"Simulated", simulated},
                      {"DailyVolumes", daily},
                      {"Total", t}}
                     .dump(2)
              << "\n";
        return 0;
    }
    c.out << "date        requests accepted delivered deferred bounces complaints opens clicks unsubscribes\n";
    auto line = [&](const std::string& label, const records::Counters& k) {
        c.out << std::left << std::setw(11) << label << std::right << " " << std::setw(8) << k[records::requests] << " "
              << std::setw(8) << k[records::accepted] << " " << std::setw(9) << k[records::delivered] << " "
              << std::setw(8) << k[records::deferred] << " " << std::setw(7) << k[records::bounces] << " "
              << std::setw(10) << k[records::complaints] << " " << std::setw(5) << k[records::opens] << " "
              << std::setw(6) << k[records::unique_clicks] << " " << std::setw(12) << k[records::unsubscribes] << "\n";
    };
    for (auto& [d, k] : days) line(day_text(d), k);
    line("total", total);
    return 0;
}

}  // namespace

std::vector<Command> status_commands() {
    return {
        {"status", "MESSAGE-ID | --recipient ADDR [--date YYYY-MM-DD]",
         "per-recipient status of a message, or of the messages to a recipient on a day (docs/status.md)", status},
        {"stats",
         "[--from YYYY-MM-DD] [--to YYYY-MM-DD] [--identity D] [--mailbox-domain D] [--simulated] [--csv]",
         "daily sending statistics: requests, deliveries, bounces, complaints, ... and rates (--simulated: the "
         "mailbox simulator's, kept apart)",
         stats,
         {"csv", "simulated"}},
    };
}

}  // namespace ses::ctl
