// shared_state.hpp -- the state a fleet of MTAs shares: the warm-up quota,
// the suppression list and the statistics counters, behind one interface
// with two backends (lmdb_state.hpp: this machine only; redis_state.hpp:
// one Redis server for every host).  No backend type leaks above src/store.
//
// charge() is the warm-up decision's one atomic step: for every key (one per
// identity, and one per quota group of an identity that the message uses)
// it checks `used + n <= limit` and, only when all fit, adds `n` to all of
// them (`n` per key: a group key gets the recipients in that group).  Counters are per (key, day) and expire `ttl`
// seconds after their last charge.  refund() undoes a charge whose local record could not be written.
//
// The held-mail order (held_register/held_remove/charge_in_order): per key
// (identity), the held mail of every host, oldest first (held_at, then the
// member, which is unique in the fleet: node id and queue id).  The ordered
// charge of a held message succeeds only when, for every key, `used`, the
// recipients of the OLDER entries that are due and not expired, and the
// message's own fit the limit; then it charges and removes the entry, else
// it registers the entry (so a missed registration heals) and charges
// nothing.  Expired entries are pruned as they are met.  The LMDB backend
// (one host) keeps no order: its host's release plan is the order, so
// register/remove do nothing and the ordered charge is charge().
//
// Suppression entries are opaque values (records/suppression.hpp owns their
// encoding) under an opaque key.  Statistics counters are counted at most
// once per event id: count() (or count_many(), many counters in one round
// trip) with an event id seen before changes nothing, so a retried update
// never counts twice.
//
// Warm-up identities (a fleet has one level and one pause switch per
// identity): identity_get() returns the identity's state (opaque bytes,
// src/warmup encodes them) with a version, and identity_put() writes a new
// state only if the version is still the one read (compare-and-set; version
// 0: none yet), so of two hosts rolling the same day exactly one wins and
// the other reads the winner's state.  feedback_add() counts an identity's
// bounces and complaints of a day (at most once per event id when one is
// given); day_get() returns a day's fleet counters of an identity, `sent`
// being its quota counter.
//
// The LMDB backend runs its own write transactions: never call it inside a
// write transaction on the same Env (the daemon opens a shared state only
// for Redis; tests give the LMDB backend a store of its own).
//
// Errors: every call may fail (Redis unreachable, timeout, store error);
// failures are internal errors, and the caller answers per `on_error`.
// Thread safety: a SharedState is shared by all threads of a process; every
// method may be called concurrently, and several processes (hosts) may use
// the same state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ses::store {

class Env;

struct QuotaCharge {
    QuotaCharge() = default;
    QuotaCharge(std::string k, uint64_t l, std::optional<uint64_t> amount = std::nullopt)
        : key(std::move(k)), limit(l), n(amount) {}

    std::string key;  // identity (or identity and quota group), opaque
    uint64_t limit = 0;
    std::optional<uint64_t> n;  // this key's amount; default: the call's n
};

struct QuotaAnswer {
    bool charged = false;
    int over = -1;      // with !charged: index of the first key that did not fit
    uint64_t used = 0;  // the counter of `over` (or of the first key when charged), before this charge
};

// One held message in the fleet's order.
struct HeldOrder {
    std::string member;       // NODE|QUEUEID, unique in the fleet
    int64_t held_at = 0;      // the order
    int64_t due_at = 0;       // blocks younger mail only from then on
    uint64_t recipients = 0;  // what it will charge
    int64_t expires_at = 0;   // forgotten then unless registered again
};

// One statistics counter update of count_many().
struct CountOp {
    int32_t day = 0;
    std::string name;   // the counter
    std::string event;  // counted at most once per day
    uint64_t n = 1;
};

// One identity's day in the fleet.
struct SharedDay {
    uint64_t sent = 0;  // the quota counter
    uint64_t bounced = 0;
    uint64_t complained = 0;
};

struct SharedIdentity {
    std::optional<std::string> value;  // nullopt: no state yet
    uint64_t version = 0;              // 0 with no state
    SharedDay day;                     // the day asked for
};

// The backend's health, for the metrics and `sesctl status`.
struct SharedHealth {
    std::string backend;  // "lmdb" | "redis"
    bool up = true;
    uint64_t errors = 0;   // failed calls since start
    uint64_t outages = 0;  // transitions from up to down
};

class SharedState {
public:
    virtual ~SharedState() = default;

    virtual Result<QuotaAnswer> charge(const std::vector<QuotaCharge>& keys, int32_t day, uint64_t n, int64_t ttl) = 0;
    virtual Status refund(const std::vector<QuotaCharge>& keys, int32_t day, uint64_t n) = 0;
    virtual Result<uint64_t> used(std::string_view key, int32_t day) = 0;

    virtual Result<std::optional<std::string>> suppression_get(std::string_view key) = 0;
    virtual Status suppression_put(std::string_view key, std::string_view value) = 0;
    virtual Result<bool> suppression_del(std::string_view key) = 0;
    // Entries whose key starts with `prefix`, in key order, at most `limit`.
    virtual Result<std::vector<std::pair<std::string, std::string>>> suppression_list(std::string_view prefix,
                                                                                      size_t limit) = 0;

    // Adds 1 to counter `name` of `day` unless `event` was counted before
    // (for that day); true when it counted.
    virtual Result<bool> count(int32_t day, std::string_view name, std::string_view event) = 0;
    virtual Result<std::map<std::string, uint64_t>> totals(int32_t day) = 0;

    // Warm-up identity state, and the day's counters of `day`, in one call.
    virtual Result<SharedIdentity> identity_get(std::string_view key, int32_t day) = 0;
    // Writes `value` with version `version` + 1 when the stored version is
    // `version`; false (nothing written) when another writer came first.
    virtual Result<bool> identity_put(std::string_view key, uint64_t version, std::string_view value) = 0;
    virtual Result<SharedDay> day_get(std::string_view key, int32_t day) = 0;
    // Adds to the day's bounced and complained counters of `key`; with an
    // `event` id seen before (for that day) nothing changes (false).
    virtual Result<bool> feedback_add(std::string_view key, int32_t day, uint64_t bounced, uint64_t complained,
                                      std::string_view event, int64_t ttl) = 0;

    virtual SharedHealth health() const = 0;

    // ---- the fleet-wide order of held mail (see above) ----
    // Registers `e` under every key (idempotent: a second call refreshes
    // recipients, due time and expiry).
    virtual Status held_register(const std::vector<std::string>& keys, const HeldOrder& e) = 0;
    virtual Status held_remove(const std::vector<std::string>& keys, std::string_view member) = 0;
    // charge() of `e.recipients` behind the older held mail of every key, at
    // time `now`; the answer's `used` is the key's counter.
    virtual Result<QuotaAnswer> charge_in_order(const std::vector<QuotaCharge>& keys, int32_t day, int64_t ttl,
                                                const HeldOrder& e, int64_t now) = 0;
    // ---- batched statistics counters (one round trip per transaction) ----

    // count() for many counters in one step (one Redis call, one LMDB
    // transaction): adds each op's `n` to counter `name` of its `day` unless
    // its `event` was counted before for that day (or earlier in `ops`), and
    // marks the event.  Same keys and expiry as count(), so totals() sees
    // both.  Either every op is applied or the call fails; answers, per op,
    // whether it counted.
    virtual Result<std::vector<bool>> count_many(const std::vector<CountOp>& ops) = 0;
};

struct SharedOptions {
    std::string backend = "lmdb";  // "lmdb" | "redis"
    std::string redis_url = "redis://127.0.0.1:6379/0";
    unsigned redis_pool = 8;
    int redis_timeout_ms = 200;
    std::string redis_prefix = "ses:";
};

// The backend named in `o`; `env` is used by the LMDB backend only.
Result<std::shared_ptr<SharedState>> open_shared_state(const SharedOptions& o, std::shared_ptr<Env> env);

}  // namespace ses::store
