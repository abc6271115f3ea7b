// message_store.hpp -- message records, their events and the daily
// statistics, in the LMDB store.
//
// Every outbound message sesmilter accepts gets a record: its id (also the
// X-SES-Message-ID header), queue id, identity, envelope sender, From,
// Subject (bounded), template, size, request time, and per recipient the
// status of status.hpp.  Every change of a recipient's status is an event
// row, and the day's counters per identity and receiving mailbox group
// change in the SAME write transaction as the status: a change is counted
// exactly once, whatever crashes or restarts around it.
//
// Tables (layouts in docs/store-layout.md):
//   records           message id                      -> the record (v1)
//   records_qid       queue id + NUL + request time    -> message id
//   records_rcpt_day  address + NUL + day + message id -> ""
//   records_time      request time + message id        -> "" (retention)
//   events            time + seq                       -> the event (v1)
//                     (and, through StoreSettings::on_event, the webhook outbox)
//   stats_day         day + identity + NUL + group + NUL + simulated u8 -> counters (v1)
//
// With a fleet's shared state ([store] backend = "redis", docs/fleet.md)
// every counter is also counted there, once per event id (message id,
// recipient, counter and the outcome's time: a retried update never counts
// twice), and stats() reads the fleet's totals from it.  The shared counts
// of one write transaction (a message's add(), a follower batch) are
// collected and sent in ONE call just before it commits (store::PreCommit),
// so stats() inside that same transaction does not see them yet.  A
// shared-state failure fails the commit: the update is retried whole, and
// the local counters never run ahead of the fleet's.
//
// Short Postfix queue ids are reused after a while: by_queue_id() takes the
// newest record with that id that is not older than `window` seconds.
//
// Errors: store failures come back as Status / Result; a record that cannot
// be decoded reads as absent (and is logged by the caller).
// Thread safety: the functions take the caller's transaction; the store
// object itself is immutable after open and shared by all threads.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "records/status.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "util/result.hpp"

namespace ses::records {

struct RecipientRecord {
    std::string address;  // as given at RCPT (without <>)
    RecipientState state;
};

struct MessageRecord {
    std::string id;        // sesmilter's message id
    std::string queue_id;  // the MTA's
    std::string identity;  // the sending identity (domain)
    std::string sender;    // envelope sender
    std::string from;      // From: address
    std::string subject;   // bounded (kMaxSubject)
    std::string template_name;
    std::string pool;            // the [[pool]] it left from (docs/pools.md), "" without pools
    std::string source_address;  // the pool address
    std::string overflow_from;   // the pool the policy overflowed from, else ""
    uint64_t size = 0;
    int64_t request_time = 0;
    // Every recipient is a mailbox simulator one (a single recipient may be
    // too: RecipientState::simulated); kept out of the real funnel.
    bool simulated = false;
    std::vector<RecipientRecord> recipients;

    RecipientRecord* recipient(std::string_view address);  // case-insensitive
};
inline constexpr size_t kMaxSubject = 256;

struct Event {
    int64_t time = 0;
    uint64_t seq = 0;
    std::string message_id;
    std::string recipient;
    EventType type = EventType::processed;
    BounceType bounce = BounceType::none;
    std::string dsn;
    std::string text;
    bool simulated = false;
};

// The day's funnel for one identity and one receiving mailbox group.
enum Counter : size_t {
    requests,       // RequestCount: recipients submitted
    accepted,       // AcceptedCount: recipients accepted by sesmilter
    delivered,      // DeliveredCount
    deferred,       // DeferredCount: recipients deferred at least once
    bounces,        // BounceCount
    hard_bounces,   // HardBounceCount
    soft_bounces,   // SoftBounceCount
    complaints,     // ComplaintCount
    opens,          // OpenedCount (all opens)
    unique_opens,   // recipients who opened
    clicks,         // all clicks
    unique_clicks,  // ClickedCount: recipients who clicked
    unsubscribes,   // UnsubscribeCount
    dropped,        // dropped by sesmilter (suppressed)
    held,           // held by warm-up
    kCounters
};
std::string_view counter_name(Counter c);  // the product's field names ("DeliveredCount", ...)
using Counters = std::array<uint64_t, kCounters>;

struct StatsRow {
    int32_t day = 0;
    std::string identity;
    std::string mailbox_group;
    bool simulated = false;
    Counters counters{};
};

struct StoreSettings {
    std::vector<std::string> mailbox_groups = {"gmail.com",  "outlook.com", "hotmail.com", "yahoo.com",
                                               "icloud.com", "qq.com",      "163.com"};
    int64_t queue_id_window = 30 * 86400;  // how old a record a queue id may still name
    // The statistics day of a time (default: UTC days since 1970-01-01).
    std::function<int32_t(int64_t)> day_of;
    // Called inside the transaction of every event written (the webhook
    // outbox, records/outbox.hpp); its failure fails that transaction, so an
    // event is never recorded without its outbox entries.
    std::function<Status(store::Txn&, const Event&)> on_event;
    // The fleet's shared state: counters are counted there too, and stats()
    // reads them from there.  Null: this host only.
    std::shared_ptr<store::SharedState> shared;
};

class MessageStore {
public:
    static Result<std::shared_ptr<MessageStore>> open(std::shared_ptr<store::Env> env, StoreSettings s);

    // A new record: its recipients' RequestCount/AcceptedCount and a
    // `processed` event each (or `dropped` for those already dropped).
    Status add(store::Txn& txn, const MessageRecord& rec);
    std::optional<MessageRecord> get(store::Txn& txn, std::string_view id);
    std::optional<std::string> by_queue_id(store::Txn& txn, std::string_view queue_id, int64_t now);
    // The MTA requeued the message `old_qid` as `new_qid` (postsuper -r):
    // the record found by by_queue_id(old_qid) now goes by `new_qid`.  No
    // record: nothing to do (not sesmilter's mail).
    Status requeued(store::Txn& txn, std::string_view old_qid, std::string_view new_qid, int64_t now);

    // Applies an outcome to one recipient (or to every recipient still open
    // when `address` is empty: an expiry); writes the state, the events and
    // the counters.  Returns the events written (none: nothing changed).
    Result<std::vector<Event>> apply(store::Txn& txn, std::string_view id, std::string_view address, const Outcome& o);

    // An event that changes no recipient state (`released`, `auto_reply`):
    // one per recipient of message `id`, or for `address` only when it is
    // given.  Returns how many were written (0: no record / no such address).
    Result<size_t> note(store::Txn& txn, std::string_view id, std::string_view address, EventType type, int64_t time,
                        std::string_view text = {});
    // A free-standing event (a `rendering_failure` has no record); assigns e.seq.
    Status record_event(store::Txn& txn, Event& e) { return write_event(txn, e); }

    // Ids of the messages to a recipient on a day (newest last).
    std::vector<std::string> by_recipient(store::Txn& txn, std::string_view address, int32_t day);
    // The day's counters (the fleet's with a shared state).
    std::vector<StatsRow> stats(store::Txn& txn, int32_t from_day, int32_t to_day);
    std::vector<Event> events(store::Txn& txn, int64_t since, size_t limit);

    // Deletes records requested before `before` (at most `limit` per call,
    // so that one short transaction never blocks the milter for long);
    // returns how many went.
    Result<size_t> purge(store::Txn& txn, int64_t before, size_t limit);

    int32_t day_of(int64_t t) const { return settings_.day_of(t); }
    std::string mailbox_group(std::string_view address) const;
    // `event` names this change (for the shared state's idempotence): the
    // message id, the recipient and what makes the change unique; its `n`
    // units are one event.  The shared count goes with the transaction's
    // others just before it commits (see above).
    void count(store::Txn& txn, int64_t time, const std::string& identity, std::string_view address, bool simulated,
               Counter c, std::string_view event, uint64_t n = 1);

private:
    MessageStore(std::shared_ptr<store::Env> env, StoreSettings s);
    Status write_event(store::Txn& txn, Event& e);
    std::shared_ptr<store::Env> env_;
    StoreSettings settings_;
    store::Table records_, qid_, rcpt_day_, time_, events_, stats_;
};

std::string encode(const MessageRecord& r);
std::optional<MessageRecord> decode_record(std::string_view v);
// An event's fields without its time and seq (those are its key in `events`).
std::string encode_event(const Event& e);
std::optional<Event> decode_event_fields(std::string_view v);

}  // namespace ses::records
