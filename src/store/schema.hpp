// schema.hpp -- the named databases of the one LMDB environment.
//
// Every table any module uses is declared here once, with its key and value
// layout in words; docs/store-layout.md is generated from that table
// (layout_doc.hpp, `make docs`).  Env::open
// creates them all and checks the schema version stored in `meta`; a store
// written by a different schema version is refused rather than misread.
// Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ses::store {

// Bump when a layout changes incompatibly (and add a migration to env.cpp).
inline constexpr uint32_t kSchemaVersion = 1;

struct TableDef {
    std::string_view name;
    std::string_view key;    // layout, for the docs
    std::string_view value;  // layout, for the docs
};

std::span<const TableDef> tables();

// Table names, so that callers cannot misspell them.
namespace table {
inline constexpr std::string_view meta = "meta";
inline constexpr std::string_view warmup_identity = "warmup_identity";
inline constexpr std::string_view warmup_day = "warmup_day";
inline constexpr std::string_view warmup_group_day = "warmup_group_day";
inline constexpr std::string_view warmup_history = "warmup_history";
inline constexpr std::string_view held = "held";
inline constexpr std::string_view held_qid = "held_qid";
inline constexpr std::string_view templates = "templates";
inline constexpr std::string_view template_failures = "template_failures";
inline constexpr std::string_view identity_verification = "identity_verification";
inline constexpr std::string_view records = "records";
inline constexpr std::string_view records_qid = "records_qid";
inline constexpr std::string_view records_rcpt_day = "records_rcpt_day";
inline constexpr std::string_view records_time = "records_time";
inline constexpr std::string_view events = "events";
inline constexpr std::string_view stats_day = "stats_day";
inline constexpr std::string_view follower = "follower";
inline constexpr std::string_view suppression = "suppression";
inline constexpr std::string_view webhook_outbox = "webhook_outbox";
inline constexpr std::string_view webhook_failed = "webhook_failed";
inline constexpr std::string_view api_keys = "api_keys";
inline constexpr std::string_view tracking_links = "tracking_links";
inline constexpr std::string_view groups = "groups";
inline constexpr std::string_view group_members = "group_members";
inline constexpr std::string_view tasks = "tasks";
inline constexpr std::string_view task_rcpts = "task_rcpts";
inline constexpr std::string_view shared_quota = "shared_quota";
inline constexpr std::string_view shared_suppression = "shared_suppression";
inline constexpr std::string_view shared_count = "shared_count";
inline constexpr std::string_view shared_event = "shared_event";
inline constexpr std::string_view shared_identity = "shared_identity";
inline constexpr std::string_view shared_feedback = "shared_feedback";
}  // namespace table

}  // namespace ses::store
