// schema.cpp -- see schema.hpp.
#include "store/schema.hpp"

namespace ses::store {

namespace {
// Identity key ("IK" below): kind byte ('d' domain, 'i' ip) + name + NUL.
// Day: u32 big-endian day number (days since 1970-01-01 in the warm-up time
// zone, sign bit flipped).  Times: u64 big-endian seconds since the epoch.
constexpr TableDef kTables[] = {
    {table::meta, "text name (\"schema_version\", \"events_seq\")", "u32 version; u64 last event sequence number"},
    {table::warmup_identity, "IK", "v1: level u32, started day, last rolled day, paused u8, updated_at u64"},
    {table::warmup_day, "IK + day", "v1: sent, held, released, bounced, complained (u64 each)"},
    {table::warmup_group_day, "IK + day + group name", "v1: sent u64"},
    {table::warmup_history, "IK + at (u64) + seq (u32)", "v1: from level, to level, reason text"},
    {table::held, "release_at (u64) + held_at (u64) + queue id",
     "v1: state, identities, recipients, groups, held_at, release_at, charged day, reason"},
    {table::held_qid, "queue id", "the record's key in `held`"},
    {table::templates, "template name", "v1: the template as JSON (src/template/lmdb_store.hpp)"},
    {table::template_failures, "time (i64) + queue id + NUL + seq (u32)", "v1: the RenderingFailure as JSON"},
    {table::identity_verification, "lower-case domain", "v1: the identity report as JSON (src/auth/verification.hpp)"},
    {table::records, "message id",
     "v1: queue id, identity, sender, From, Subject, template, size u64, request time i64, simulated u8, "
     "recipients (address, SendStatus u32, DeliverStatus u8, bounce type u8, DeliverMessage, request time, "
     "deliver time, flags u8)"},
    {table::records_qid, "queue id + NUL + request time (i64)", "message id"},
    {table::records_rcpt_day, "lower-case address + NUL + day (i32) + message id", "empty"},
    {table::records_time, "request time (i64) + message id", "empty (retention order)"},
    {table::events, "time (i64) + seq (u64)",
     "v1: message id, recipient, type u8, bounce type u8, dsn, text, simulated u8"},
    {table::stats_day, "day (i32) + identity + NUL + mailbox group + NUL + simulated u8",
     "v1: n u32, then n u64 counters in the order of records::Counter"},
    {table::follower, "log file path", "v1: inode u64, fingerprint, offset u64"},
};
}  // namespace

std::span<const TableDef> tables() { return kTables; }

}  // namespace ses::store
