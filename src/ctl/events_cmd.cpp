// events_cmd.cpp -- `sesctl events`, `sesctl events failed`, `sesctl events retry`.
//
// `events` and `events failed` read the store in one read transaction and
// run beside the daemon at any time.  `events retry` moves failed webhook
// entries back into the outbox in one write transaction; the daemon's
// webhook sender picks them up at its next round (at least once, in order
// with the recipient's other pending events).
//
// Errors: a store that cannot be opened, or bad options, fail the command
// (exit 1 / 2) with a message; `retry ID` of an id that is not failed is an
// error.
#include "ctl/events_cmd.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

#include "config/config.hpp"
#include "config/keys.hpp"
#include "ctl/open_store.hpp"
#include "records/message_store.hpp"
#include "records/outbox.hpp"
#include "services/api_json.hpp"
#include "util/clock.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

std::string type_list() {
    std::string s;
    for (int i = 0; i < records::kEventTypes; ++i)
        s += (s.empty() ? "" : "|") + std::string(records::event_name(static_cast<records::EventType>(i)));
    return s;
}

int events(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return fail(c, "store: " + env.error().what);
    records::StoreSettings rs;
    rs.mailbox_groups = c.cfg.get(config::key::records::mailbox_groups);
    auto store = records::MessageStore::open(*env, std::move(rs));
    if (!store) return fail(c, store.error().what);
    int64_t since = 0;
    if (auto s = c.opt("since")) {
        auto t = clock::parse_rfc3339(*s);
        if (!t) return fail(c, "--since: not an RFC 3339 time or date: " + *s, 2);
        since = *t;
    }
    size_t limit = 1000;
    if (auto l = c.opt("limit")) {
        try {
            limit = std::stoul(*l);
        } catch (...) {
            return fail(c, "--limit: not a number: " + *l, 2);
        }
    }
    auto type = c.opt("type");
    if (type && !records::parse_event_name(*type))
        return fail(c, "--type: unknown event type " + *type + " (" + type_list() + ")", 2);
    auto txn = (*env)->begin_read();
    if (!txn) return fail(c, txn.error().what);
    json list = json::array();
    size_t n = 0;
    // The type filter is applied after the limit's read: read generously.
    for (const auto& e : (*store)->events(*txn, since, type ? limit * 50 : limit)) {
        if (type && records::event_name(e.type) != *type) continue;
        if (n++ >= limit) break;
        if (c.json) {
            list.push_back(services::api::event(e));
        } else {
            c.out << clock::format_rfc3339(e.time) << "  " << records::event_name(e.type) << "  " << e.message_id
                  << "  " << e.recipient;
            if (e.bounce != records::BounceType::none) c.out << "  " << records::bounce_type_name(e.bounce);
            if (!e.dsn.empty()) c.out << "  " << e.dsn;
            if (!e.text.empty()) c.out << "  " << e.text;
            c.out << "\n";
        }
    }
    if (c.json) c.out << json{{"Events", list}}.dump(2) << "\n";
    return 0;
}

// The outbox without subscriptions: these commands only read and move entries.
Result<std::pair<std::shared_ptr<store::Env>, records::Outbox>> open_outbox(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return Error{"store: " + env.error().what, {}};
    return std::pair<std::shared_ptr<store::Env>, records::Outbox>(*env, records::Outbox(*env, {}));
}

int failed(Context& c) {
    auto o = open_outbox(c);
    if (!o) return fail(c, o.error().what);
    size_t limit = 1000;
    if (auto l = c.opt("limit")) {
        try {
            limit = std::stoul(*l);
        } catch (...) {
            return fail(c, "--limit: not a number: " + *l, 2);
        }
    }
    auto txn = o->first->begin_read();
    if (!txn) return fail(c, txn.error().what);
    json list = json::array();
    for (const auto& e : o->second.failed(*txn, limit)) {
        if (c.json) {
            list.push_back(services::api::failed_webhook(e));
        } else {
            c.out << e.event.seq << "  " << e.hook << "  " << records::event_name(e.event.type) << "  "
                  << e.event.message_id << "  " << e.event.recipient << "  gave up "
                  << clock::format_rfc3339(e.failed_at) << " after " << e.attempts << " attempt(s): " << e.last_error
                  << "\n";
        }
    }
    if (c.json) c.out << json{{"Failed", list}}.dump(2) << "\n";
    return 0;
}

int retry(Context& c) {
    bool all = c.flag("all");
    if (all == (c.args.size() == 1) || c.args.size() > 1)
        return fail(c, "usage: sesctl events retry EVENT-ID | --all", 2);
    std::optional<uint64_t> seq;
    if (!all) {
        try {
            size_t used = 0;
            seq = std::stoull(c.args[0], &used);
            if (used != c.args[0].size()) throw std::invalid_argument("id");
        } catch (...) {
            return fail(c, "not an event id (a number, from `sesctl events failed`): " + c.args[0], 2);
        }
    }
    auto o = open_outbox(c);
    if (!o) return fail(c, o.error().what);
    size_t moved = 0;
    Status st = o->first->update([&](store::Txn& txn) -> Status {
        auto n = o->second.retry(txn, seq);
        if (!n) return n.error();
        moved = *n;
        return ok_status();
    });
    if (!st) return fail(c, st.error().what);
    if (seq && moved == 0) return fail(c, "event " + std::to_string(*seq) + " is not in the failed list");
    if (c.json)
        c.out << json{{"Retried", moved}}.dump(2) << "\n";
    else
        c.out << moved << " webhook deliver" << (moved == 1 ? "y" : "ies") << " queued again\n";
    return 0;
}

}  // namespace

std::vector<Command> events_commands() {
    return {
        {"events", "[--since TIME] [--type " + type_list() + "] [--limit N]",
         "status changes of recipients, oldest first (docs/events.md)", events},
        {"events failed", "[--limit N]", "webhook deliveries that gave up (docs/events.md)", failed},
        {"events retry", "EVENT-ID | --all", "send failed webhook deliveries again", retry, {"all"}},
    };
}

}  // namespace ses::ctl
