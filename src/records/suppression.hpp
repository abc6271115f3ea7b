// suppression.hpp -- the suppression list: addresses that must not be
// mailed again.
//
// An entry is an address, a scope (global, or one sending identity), a
// reason (hard_bounce, complaint, unsubscribe, manual), the time it was
// added, the message that caused it (empty for manual entries) and an
// expiry (0: never).  Addresses are normalised whole to lower case, local
// part included: RFC 5321 lets a local part be case-sensitive, but no
// mailbox provider that matters treats it so, and the list must rather
// suppress one address too many than mail a bounced one again.
//
// Hard bounces, complaints and unsubscribes of real (not simulated) mail
// add the recipient automatically (note_event()), in the caller's
// transaction: the same one that writes the status change, so the list
// and the records never disagree.  The milter checks every outbound
// recipient with find(): one cursor seek (one B-tree descent) per
// recipient, since every scope of an address sits under the same key
// prefix and the global entry sorts first.
//
// With a fleet's shared state ([store] backend = "redis", docs/fleet.md)
// the shared store is the list: put() and remove() write it and this
// host's LMDB (kept as a copy), find() and list() read only the shared
// store, so an entry added or removed through any host counts on all.  A
// shared-state failure fails the caller's transaction (Txn::fail), so it
// is answered like a store failure (on_error; a write is retried).
//
// Errors: store failures come back as Status / are sticky in the Txn; an
// entry that cannot be decoded reads as absent.
// Thread safety: the object is immutable after open and shared; the
// functions use the caller's transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "records/message_store.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "util/result.hpp"

namespace ses::records {

enum class SuppressionReason : uint8_t { hard_bounce = 1, complaint = 2, unsubscribe = 3, manual = 4 };
std::string_view reason_name(SuppressionReason r);                     // "hard_bounce", ...
std::optional<SuppressionReason> parse_reason(std::string_view text);  // the names above

// The list's form of an address: without <>, trimmed, lower case; "" when
// it is not an address (no '@', empty local part or domain, spaces).
std::string normalize_address(std::string_view address);

struct SuppressionEntry {
    std::string address;  // normalised
    std::string scope;    // "" global; else the identity domain (lower case)
    SuppressionReason reason = SuppressionReason::manual;
    int64_t time = 0;
    std::string source;   // message id that caused it; "" for manual entries
    int64_t expires = 0;  // Unix seconds; 0: never

    bool expired(int64_t now) const { return expires != 0 && expires <= now; }
};

struct SuppressionSettings {
    bool per_identity = false;       // automatic entries: scope = the message's identity
    int64_t hard_bounce_expiry = 0;  // seconds; 0: never
    int64_t complaint_expiry = 0;    // seconds; 0: never
};

class SuppressionList {
public:
    // `shared`: the fleet's shared state; null keeps the list in `env` only.
    static Result<std::shared_ptr<SuppressionList>> open(std::shared_ptr<store::Env> env, SuppressionSettings s,
                                                         std::shared_ptr<store::SharedState> shared = nullptr);

    // The unexpired entry that stops mail from `identity` to `address`: the
    // global one, else the identity's.  One cursor seek.
    std::optional<SuppressionEntry> find(store::Txn& txn, std::string_view address, std::string_view identity,
                                         int64_t now) const;
    // Adds or replaces the entry of (address, scope).  Fails for an address
    // that does not normalise.
    Status put(store::Txn& txn, SuppressionEntry e) const;
    // Removes the address's entry in `scope`, or in every scope when
    // `scope` is nullopt; returns how many went.
    size_t remove(store::Txn& txn, std::string_view address, const std::optional<std::string>& scope) const;
    // Every entry (expired ones too), by address then scope.
    std::vector<SuppressionEntry> list(store::Txn& txn) const;

    // The automatic part: a hard bounce, a complaint or an unsubscribe of
    // real mail adds the recipient (scope per settings, expiry per reason).
    // Simulated events add nothing.
    Status note_event(store::Txn& txn, const MessageRecord& rec, const Event& e) const;

    const SuppressionSettings& settings() const { return s_; }

private:
    SuppressionList(std::shared_ptr<store::Env> env, SuppressionSettings s, std::shared_ptr<store::SharedState> shared);
    std::shared_ptr<store::Env> env_;
    SuppressionSettings s_;
    std::shared_ptr<store::SharedState> shared_;
    store::Table table_;
};

}  // namespace ses::records
