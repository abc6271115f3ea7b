// schema.cpp -- see schema.hpp.
#include "store/schema.hpp"

namespace ses::store {

namespace {
// Layouts in words, in the notation of docs/store-layout.md (generated from
// this table by `make docs`): IK = identity key, day = u32 day number,
// time = u64 seconds since the epoch, all big-endian.
constexpr TableDef kTables[] = {
    {table::meta,
     "text (`schema_version`, `events_seq`, `submission_key`, `template_next_id`, `group_seq`, `task_seq`, `node_id`)",
     "u32 schema version; u64 last event sequence number; 32-byte secret of X-SES-Submission; u64 next template "
     "id; u64 last group id; u64 last task id; 16 hex digits naming this host in a fleet's shared state"},
    {table::warmup_identity, "IK", "level u32, started day, last rolled day, paused u8, updated_at time"},
    {table::warmup_day, "IK + day", "sent, held, released, bounced, complained (u64 each)"},
    {table::warmup_group_day, "IK + day + group name", "sent u64 (quota groups of `daily_limit`)"},
    {table::warmup_history, "IK + time + seq u32",
     "day, from level, to level, reason (`upgrade`, `set-level`, `paused`, `resumed`)"},
    {table::held, "release_at time + held_at time + queue id",
     "state (held / releasing), queue id, sender, identities (IKs), recipients, recipient domains with counts, "
     "held_at, release_at, charged day, releasing since, attempts"},
    {table::held_qid, "queue id", "the record's key in `held`"},
    {table::templates, "template name", "the template as JSON (`src/template/lmdb_store.hpp`)"},
    {table::template_failures, "time + queue id + NUL + seq u32", "the RenderingFailure as JSON"},
    {table::identity_verification, "lower-case domain",
     "the last identity report (DKIM, SPF, DMARC checks) as JSON (`src/auth/verification.hpp`)"},
    {table::records, "message id",
     "queue id, identity, sender, From, Subject, template, size u64, request time, simulated u8, "
     "recipients (address, SendStatus u32, DeliverStatus u8, bounce type u8, DeliverMessage, request time, "
     "deliver time, flags u8)"},
    {table::records_qid, "queue id + NUL + request time", "message id"},
    {table::records_rcpt_day, "lower-case address + NUL + day + message id", "empty"},
    {table::records_time, "request time + message id", "empty (retention order)"},
    {table::events, "time + seq u64", "message id, recipient, type u8, bounce type u8, dsn, text, simulated u8"},
    {table::stats_day, "day + identity + NUL + mailbox group + NUL + simulated u8",
     "n u32, then n u64 counters in the order of `records::Counter`"},
    {table::webhook_outbox, "webhook id + NUL + lower-case recipient + NUL + event seq u64",
     "event time, event seq, the event (as in `events`), attempts u32, next attempt time, last error "
     "(records/outbox.hpp; key order is delivery order per recipient)"},
    {table::webhook_failed, "event seq u64 + webhook id",
     "the outbox entry as above, then the time it gave up (listed by `sesctl events failed`)"},
    {table::api_keys, "key name (as given to `sesctl apikey create`)",
     "SHA-256 of the key (32 bytes), created time i64, then the identities it may send as, joined by LF (none: "
     "all) (records/apikeys.hpp; the key itself is never stored)"},
    {table::follower, "log file path", "inode u64, fingerprint, offset u64 (the delivery follower's position)"},
    {table::suppression, "normalised (lower-case) address + NUL + scope (empty: global; else the identity domain)",
     "reason u8, time i64, source message id, expires i64 (0: never) (records/suppression.hpp)"},
    {table::tracking_links, "raw message id (16 bytes: request time ms u64 + random) + link index u16",
     "the original URL of a tracked link (records/tracking.hpp; kept `[tracking] link_days`)"},
    {table::groups, "group id u64", "name, created time, member count u64 (records/groups.hpp)"},
    {table::group_members, "group id u64 + lower-case address", "address as imported, template data JSON"},
    {table::tasks, "task id u64", "the task: its request, status, counts, run, cursor (records/tasks.hpp)"},
    {table::task_rcpts, "task id u64 + run u32 + lower-case address",
     "state u8 (assigned, sent, skipped, failed), message id, attempts u32, next try time, last reply"},
    {table::shared_quota, "day + quota key (store/shared_state.hpp, LMDB backend)", "used u64"},
    {table::shared_suppression, "opaque key (store/shared_state.hpp, LMDB backend)", "opaque value"},
    {table::shared_count, "day + counter name", "n u64"},
    {table::shared_event, "day + event id", "empty (counted once)"},
    {table::shared_identity, "warm-up identity key (store/shared_state.hpp, LMDB backend)",
     "version u64, then the identity's state (opaque, src/warmup)"},
    {table::shared_feedback, "day + warm-up identity key", "bounced u64, complained u64"},
};
}  // namespace

std::span<const TableDef> tables() { return kTables; }

}  // namespace ses::store
