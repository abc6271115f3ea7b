// outbox.hpp -- the durable webhook outbox: events waiting for their
// endpoints, and the ones that gave up.
//
// The MessageStore calls on_event() inside the transaction that writes an
// event (StoreSettings::on_event), so an event and its outbox entries are
// committed together or not at all: a crash between the two cannot lose a
// webhook.  One entry per configured webhook whose `events` filter takes the
// event's type.
//
// Order: entries are keyed webhook id + recipient + event seq, so a cursor
// walks each recipient's events in the order they happened.  Only the first
// entry of a recipient (its head) decides whether that recipient is due; the
// entries after it wait for it, so an event is never delivered before an
// earlier one of the same recipient (delivery is at least once: a resend
// after a crash may repeat events, never reorder them).
//
// Retries: after n failed attempts the next one waits retry_delay(n) (base *
// 2^(n-1), capped); an entry whose event is older than max_age when an
// attempt fails moves to `webhook_failed`, is logged by the caller, and the
// recipient's later events go on.  `sesctl events retry` moves failed
// entries back (attempts reset, due at once).
//
// Tables: webhook_outbox, webhook_failed (docs/store-layout.md).
// Errors: store failures come back as Status / Result; an entry that cannot
// be decoded is skipped when reading (and stays, for inspection).
// Thread safety: the functions take the caller's transaction; the Outbox
// itself is immutable after construction and shared by all threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "records/message_store.hpp"
#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::records {

// Which events a webhook takes.
struct Subscription {
    std::string hook;               // the webhook's id (config WebhookConf::id)
    std::vector<EventType> events;  // empty: every type
    bool wants(EventType t) const;
};

// The subscriptions of the configured webhooks; an unknown event name is an
// error naming it (a start-up failure).
Result<std::vector<Subscription>> subscriptions_from(const config::Config& cfg);

struct RetryPolicy {
    int64_t base = 30;        // first retry after this many seconds
    int64_t cap = 3600;       // longest wait
    int64_t max_age = 86400;  // give up on events older than this
};

// Seconds to wait after `failures` failed attempts (failures >= 1).
int64_t retry_delay(const RetryPolicy& p, uint32_t failures);

struct OutboxEntry {
    std::string hook;
    Event event;  // time and seq included; event.seq is the X-SES-Event-ID
    uint32_t attempts = 0;
    int64_t next_attempt = 0;  // 0: at once
    std::string last_error;
    int64_t failed_at = 0;  // entries of the failed table only
    std::string key;        // where it is stored
};

class Outbox {
public:
    explicit Outbox(std::shared_ptr<store::Env> env, std::vector<Subscription> subs);

    // The MessageStore's sink (StoreSettings::on_event).
    Status on_event(store::Txn& txn, const Event& e) const;

    // The next batch for `hook`, in key order: every due recipient's
    // entries, head first, until `max` entries.
    std::vector<OutboxEntry> due(store::Txn& txn, std::string_view hook, int64_t now, size_t max) const;
    // Earliest next attempt of any head of `hook` (nullopt: nothing pending).
    std::optional<int64_t> next_due(store::Txn& txn, std::string_view hook) const;
    size_t pending(store::Txn& txn, std::string_view hook) const;

    // The batch was accepted: its entries go.
    Status delivered(store::Txn& txn, const std::vector<OutboxEntry>& batch) const;
    // An attempt failed: attempts + 1 and the next attempt per `p`; entries
    // whose event is older than p.max_age move to the failed table and are
    // returned (for the log).
    Result<std::vector<OutboxEntry>> attempt_failed(store::Txn& txn, const std::vector<OutboxEntry>& batch,
                                                    std::string_view error, int64_t now, const RetryPolicy& p) const;

    std::vector<OutboxEntry> failed(store::Txn& txn, size_t limit) const;
    // Moves the failed entries of event `seq` (every one when nullopt) back
    // into the outbox, due at once; returns how many moved.
    Result<size_t> retry(store::Txn& txn, std::optional<uint64_t> seq) const;

private:
    std::shared_ptr<store::Env> env_;
    std::vector<Subscription> subs_;
    store::Table outbox_, failed_;
};

}  // namespace ses::records
