// api_json.hpp -- the JSON documents that `sesctl ... --json` prints and the
// HTTP API serves: one builder each, so the two cannot drift apart.
//
// Field names are the product's (docs/status.md, docs/warmup.md).  The
// builders only read; the caller owns the transaction or engine call.
//
// Errors: parse_stats_query reports a bad date or range; the builders do
// not fail.  Thread safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "records/message_store.hpp"
#include "records/outbox.hpp"
#include "util/result.hpp"
#include "warmup/engine.hpp"

namespace ses::services::api {

using nlohmann::json;

// One element of EmailStatusList.
json recipient_status(const records::MessageRecord& m, const records::RecipientRecord& r);
// {"EmailStatusList": [...]}, every recipient or only `recipient` (any case).
json status_list(const std::vector<records::MessageRecord>& found, const std::optional<std::string>& recipient);

struct StatsQuery {
    int32_t from = 0, to = 0;
    std::optional<std::string> identity;  // lower case
    std::optional<std::string> group;     // mailbox group
    bool simulated = false;
};
// Dates "YYYY-MM-DD" (or RFC 3339 times); absent ones are today.  Errors
// name the field ("from: not a date ...", "to is before from").
Result<StatsQuery> parse_stats_query(const records::MessageStore& s, const std::optional<std::string>& from,
                                     const std::optional<std::string>& to, const std::optional<std::string>& identity,
                                     const std::optional<std::string>& mailbox_domain, bool simulated);

struct StatsTable {
    std::map<int32_t, records::Counters> days;  // every day of the range
    records::Counters total{};
};
StatsTable collect_stats(records::MessageStore& s, store::Txn& txn, const StatsQuery& q);
std::string day_text(int32_t day);
json stats(const StatsTable& t, const StatsQuery& q);

// With the status's forecast curve as "forecast" when it has one.
json warmup_identity(const warmup::IdentityStatus& s);
// {"reached", "days", "date", "note", "plan": [{"date", "level", "limit"}]}:
// `sesctl warmup forecast --json` (which adds identity and volume) and the
// "forecast" of a warm-up status.
json warmup_forecast(const warmup::Forecast& f);
// The `sesctl warmup status --json` document over every identity.
json warmup_all(warmup::Engine& eng, const std::vector<warmup::IdentityStatus>& list);
json warmup_counters(const warmup::Counters& c);

// The `sesctl queue held --json` document.
json held(const std::vector<warmup::HeldMail>& list, int64_t now);

// One element of `sesctl events --json` {"Events": [...]} and /v1/events.
json event(const records::Event& e);
// One element of `sesctl events failed --json` {"Failed": [...]} and /v1/events/failed.
json failed_webhook(const records::OutboxEntry& e);

}  // namespace ses::services::api
