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
#include <ostream>
#include <sstream>

#include "config/config.hpp"
#include "config/keys.hpp"
#include "ctl/open_store.hpp"
#include "records/message_store.hpp"
#include "services/api_json.hpp"
#include "store/settings.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ses::ctl {
namespace {

struct Records {
    std::shared_ptr<store::Env> env;
    std::shared_ptr<records::MessageStore> store;
};

Result<Records> open_records(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return Error{"store: " + env.error().what, {}};
    records::StoreSettings s;
    s.mailbox_groups = c.cfg.get(config::key::records::mailbox_groups);
    // A fleet's statistics are its shared totals (docs/fleet.md).
    if (auto so = store::shared_options_from(c.cfg); so.backend != "lmdb") {
        auto sh = store::open_shared_state(so, *env);
        if (!sh) return Error{"store.redis_url: " + sh.error().what, {}};
        s.shared = *sh;
    }
    auto recs = records::MessageStore::open(*env, std::move(s));
    if (!recs) return recs.error();
    return Records{*env, *recs};
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
    if (!m.pool.empty())
        o << "    pool " << m.pool << " address " << m.source_address
          << (m.overflow_from.empty() ? "" : " (overflow from " + m.overflow_from + ")") << "\n";
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
            auto p = clock::parse_rfc3339(*d);
            if (!p) return fail(c, "--date: not a date (YYYY-MM-DD): " + *d, 2);
            day = r->store->day_of(*p);
        }
        for (const auto& id : r->store->by_recipient(*txn, *rcpt, day))
            if (auto m = r->store->get(*txn, id)) found.push_back(std::move(*m));
    } else {
        if (c.args.size() != 1) return fail(c, "usage: sesctl status MESSAGE-ID | --recipient ADDR [--date D]", 2);
        auto m = r->store->get(*txn, c.args[0]);
        if (!m) return fail(c, "no message record " + c.args[0]);
        found.push_back(std::move(*m));
    }
    if (c.json) {
        c.out << services::api::status_list(found, rcpt).dump(2) << "\n";
        return 0;
    }
    for (auto& m : found)
        for (auto& rr : m.recipients)
            if (!rcpt || str::lower(rr.address) == str::lower(*rcpt)) print_recipient(c.out, m, rr);
    if (found.empty()) c.out << "no messages\n";
    return 0;
}

int stats(Context& c) {
    auto r = open_records(c);
    if (!r) return fail(c, r.error().what);
    auto q = services::api::parse_stats_query(*r->store, c.opt("from"), c.opt("to"), c.opt("identity"),
                                              c.opt("mailbox-domain"), c.flag("simulated"));
    if (!q) return fail(c, "--" + q.error().what, 2);
    auto txn = r->env->begin_read();
    if (!txn) return fail(c, txn.error().what);
    auto table = services::api::collect_stats(*r->store, *txn, *q);
    if (auto st = txn->status(); !st) return fail(c, st.error().what);  // the fleet's shared state
    auto& days = table.days;
    auto& total = table.total;
    if (c.flag("csv")) {
        c.out << "Date";
        for (size_t i = 0; i < records::kCounters; ++i)
            c.out << "," << records::counter_name(static_cast<records::Counter>(i));
        c.out << "\n";
        for (auto& [d, k] : days) {
            c.out << services::api::day_text(d);
            for (auto v : k) c.out << "," << v;
            c.out << "\n";
        }
        return 0;
    }
    if (c.json) {
        c.out << services::api::stats(table, *q).dump(2) << "\n";
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
    for (auto& [d, k] : days) line(services::api::day_text(d), k);
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
