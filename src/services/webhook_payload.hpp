// webhook_payload.hpp -- what a webhook request carries: the body in either
// format and the signature header (docs/events.md).
//
// "ses": a JSON array of one or more event objects (batched when several
// are pending for the endpoint).  "tencent": one JSON object per request
// with a cloud SES's callback fields; events that format has no type for
// (processed, held, released, rendering_failure, auto_reply) are not sent
// to such an endpoint (tencent_event() answers nullopt).
//
// The signature: X-SES-Signature: t=UNIX,v1=HEX[,v1=HEX] where HEX is
// HMAC-SHA256 with each configured secret over t + "." + body, lower-case
// hex; a fresh t for every attempt.
//
// Errors: none (pure functions).  Thread safety: pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "records/message_store.hpp"

namespace ses::services {

// The message an event belongs to, as far as its record still tells.
struct EventContext {
    const records::Event* event = nullptr;
    const records::MessageRecord* record = nullptr;  // null: no record (rendering_failure, purged)
};

std::string ses_body(const std::vector<EventContext>& events);
std::optional<std::string_view> tencent_event(records::EventType t);
std::string tencent_body(const EventContext& e);  // only for events tencent_event() names

// "t=T,v1=HEX,..." over `body` with every secret, in order.
std::string signature_header(const std::vector<std::string>& secrets, int64_t t, std::string_view body);

// The integer template id of the tencent format: a stable 31-bit number
// derived from the template's name (SHA-256, first four bytes), 0 for none.
int64_t template_id(std::string_view name);

// The X-SES-Event-ID value of a request: the event seqs, comma-separated.
std::string event_ids(const std::vector<EventContext>& events);

}  // namespace ses::services
