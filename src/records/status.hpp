// status.hpp -- the status of one recipient of one message, and how it moves.
//
// The product (a cloud SES's GetSendEmailStatus) reports per message and
// recipient: SendStatus (what sesmilter did at submission: an integer code),
// DeliverStatus (what became of the delivery), DeliverMessage (the remote
// reply or bounce diagnostic), RequestTime / DeliverTime (Unix seconds), and
// UserOpened / UserClicked / UserUnsubscribed / UserComplainted (the
// product's spelling).  sesmilter keeps exactly those fields, with the
// product's numbers where the product has one.
//
// apply() is the one place where an outcome (a log line of the MTA, a DSN,
// a feedback report) changes a recipient's state.  It is pure: it returns
// whether the state changed and the event to record, and the caller writes
// the state, the event and the statistics counters in one store
// transaction, so each change is counted exactly once.  Outcomes that
// arrive late or twice (a deferral logged after the delivery, the same DSN
// delivered twice) change nothing and count nothing.
//
// Thread safety: pure functions and plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ses::records {

// DeliverStatus, with the product's numbers.
enum class Deliver : int {
    accepted = 0,   // accepted by sesmilter, in the MTA's queue
    delivered = 1,  // the next hop accepted it
    dropped = 2,    // dropped by sesmilter (suppressed, simulator)
    bounced = 3,    // rejected or bounced by the receiving side
    delayed = 8,    // temporarily failed, still being retried
};
std::string_view deliver_name(Deliver d);  // "accepted", "delivered", ...

// SendStatus: 0 when sesmilter accepted the message; otherwise why not.
// The product's codes where one fits, sesmilter's own (5xxx) otherwise.
namespace send_status {
inline constexpr int accepted = 0;
inline constexpr int suppressed = 1007;         // address on the suppression list
inline constexpr int daily_limit = 1010;        // warm-up quota reached: held
inline constexpr int unverified_domain = 3014;  // sending domain not a verified identity
inline constexpr int rendering_failure = 5001;  // template missing or data incomplete
inline constexpr int simulated = 5002;          // reserved; simulator recipients report the real scenario's code
}  // namespace send_status

enum class BounceType { none, hard, soft };
std::string_view bounce_type_name(BounceType b);

struct RecipientState {
    int send_status = send_status::accepted;
    Deliver deliver = Deliver::accepted;
    BounceType bounce = BounceType::none;
    std::string deliver_message;  // the remote reply / diagnostic, bounded
    int64_t request_time = 0;
    int64_t deliver_time = 0;    // time of the last DeliverStatus change
    bool deferred_once = false;  // counted in DeferredCount already
    bool opened = false, clicked = false, unsubscribed = false, complained = false;
    // A mailbox simulator recipient (records/simulator.hpp): its counters
    // go to the simulated statistics dimension, its events say so.
    bool simulated = false;
};

// What was learnt about one recipient.
struct Outcome {
    enum class Kind {
        sent,         // MTA log: status=sent
        deferred,     // MTA log: status=deferred / SOFTBOUNCE; DSN Action: delayed
        bounced,      // MTA log: status=bounced; DSN Action: failed (after delivery)
        expired,      // MTA log: the message left the queue undelivered
        complaint,    // ARF feedback report
        dropped,      // sesmilter removed the recipient (suppression, simulator)
        unsubscribe,  // the recipient unsubscribed
        auto_reply,   // an automatic reply (out of office) came back
        open,         // the open pixel was fetched (text: user agent)
        click,        // a tracked link was followed (text: user agent)
    };
    Kind kind = Kind::sent;
    std::string dsn;   // enhanced status code when known ("5.1.1")
    std::string text;  // reply / diagnostic
    int64_t time = 0;
};

// Event types as recorded and delivered by webhooks (docs/events.md).  The
// numbers are stored (events, webhook outbox): append, never reorder.
enum class EventType {
    processed,
    delivered,
    deferred,
    bounce,
    dropped,
    spamreport,
    open,
    click,
    unsubscribe,
    held,               // warm-up held the message (SendStatus 1010)
    released,           // the release pass released it from the MTA's hold queue
    rendering_failure,  // the template stage refused it (554; there may be no record)
    auto_reply,         // an auto-reply (out of office) came back to the return path
};
inline constexpr int kEventTypes = static_cast<int>(EventType::auto_reply) + 1;
std::string_view event_name(EventType t);
std::optional<EventType> parse_event_name(std::string_view name);

struct Change {
    EventType event;
    BounceType bounce = BounceType::none;  // for bounce events
    // Statistics deltas, applied with the state in one transaction.
    bool count_delivered = false, count_deferred = false, count_bounce = false, count_complaint = false,
         count_unsubscribe = false;
    // Opens and clicks: every one counts in the total, the first of a
    // recipient in the unique counter too.
    bool count_open = false, count_unique_open = false, count_click = false, count_unique_click = false;
};

// Applies an outcome; std::nullopt when it changes nothing (late, repeated,
// or contradicted by a final state).
std::optional<Change> apply(RecipientState& st, const Outcome& o);

// A hard bounce is permanent (5.x.x, or a 5xx reply when no DSN code was
// given); anything else that ends a delivery (expiry, 4.x.x) is soft.
BounceType classify_bounce(std::string_view dsn, std::string_view text);

// Bounded copy of a remote text for DeliverMessage (keeps the store small;
// the full line stays in the MTA's log).
inline constexpr size_t kMaxDeliverMessage = 512;
std::string bounded(std::string_view text);

}  // namespace ses::records
