// engine.hpp -- warm-up quotas: the decision at end of message
// (decision.cpp), the release of held mail (release.cpp) and the operator's
// view (queries.cpp), over one store and one policy.
//
// admit() is called by the milter for every outbound message, after the
// identity is known.  It reads the state of each identity (the sender
// domain, and the sending IP when given) in a read transaction, then -- with
// no transaction open -- rolls it to today (asking should_upgrade once per
// elapsed day), asks daily_limit and, when the message does not fit, asks
// on_over_quota.  Then, in ONE write transaction, it checks that no identity
// changed meanwhile, re-checks the fit against the counters as they are now
// and either charges the recipients to today's counters (accept) or records
// the decision (hold: a held-mail record with the release time;
// tempfail/reject: nothing is counted).  Because the re-check and the charge
// are one transaction and LMDB allows one writer at a time, parallel
// sessions can never overshoot a limit; because Lua runs outside it, a slow
// hook delays only its own message (each thread borrows its own Lua state).
// When the store changed under a decision it is made again (at most 8
// times; the last time a message that no longer fits gets the built-in
// on_over_quota rule inside the transaction).

// begin_release()/finish_release() release held mail whose release time has
// come, oldest first, while each identity's quota for today allows, charging
// it to today (sent and released); the caller runs the MTA in between
// (release.hpp).  A crash in between leaves records "releasing", and they are
// retried after `release_retry` seconds without being charged twice.  Mail
// that does not fit waits for the next day.  Held mail is never deleted from
// the MTA.  The operator's queries are in queries.cpp.
//
// With a shared state (a fleet, docs/fleet.md) the daily total is checked
// and charged first in the shared store, in one atomic step for all the
// message's identities, and the local transaction then records the
// decision (a charge whose local record fails is refunded); the quota
// groups the message uses are keys of that same step.  The identity's state
// (level, day, pause) is the fleet's too: evaluate() reads it from the
// shared store, rolls it with yesterday's fleet counters (the quota
// counter's sent, the shared bounced and complained) and writes a rolled
// state back by compare-and-set, so one host's roll wins and the others
// take its result; set-level, pause and resume change it the same way.
// The host's LMDB keeps a copy (the mirror) and the level history of the
// changes made through this host.
//
// In a fleet, held mail also takes its place in the fleet-wide order of
// held mail (shared_state.hpp): registered on hold (best effort: the mail
// is safe in the hold queue either way) and by every release pass for the
// due mail it looks at, and released only when the older held mail of
// every host fits first (charge_in_order).  New mail is not ordered behind
// held mail.
//
// Errors: store failures come back as internal errors (the milter answers
// on_error).  Policy failures never do (the built-in rule answers).
// Thread safety: an Engine is shared by all threads; every method may be
// called concurrently, and several processes may share the store.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/message.hpp"
#include "policy/policy.hpp"
#include "store/env.hpp"
#include "store/shared_state.hpp"
#include "util/result.hpp"
#include "warmup/decision.hpp"
#include "warmup/model.hpp"
#include "warmup/queries.hpp"
#include "warmup/records.hpp"
#include "warmup/release.hpp"
#include "warmup/settings.hpp"
#include "warmup/timezone.hpp"

namespace ses::warmup {

class Engine {
public:
    // `shared`: the fleet's quota ([store] backend = "redis"); null keeps
    // the quota in this machine's LMDB only.
    static Result<std::unique_ptr<Engine>> open(const Settings& s, std::shared_ptr<store::Env> env,
                                                std::shared_ptr<policy::Policy> policy,
                                                std::shared_ptr<store::SharedState> shared = nullptr);

    // The decision for one message.  `ip` is "" unless outbound IPs are
    // configured.
    Result<Decision> admit(const mail::Message& m, std::string_view identity_domain, std::string_view ip = {});
    Result<Decision> admit(const mail::Message& m, const std::vector<IdentityKey>& ids, AdmitOptions opts = {});

    // The release protocol (release.hpp); the caller runs the MTA.
    Result<ReleaseBatch> begin_release();
    Status finish_release(const ReleaseBatch& batch, const std::vector<ReleaseOutcome>& outcomes);

    // Operator commands.
    // `with_forecast`: also the curve to the top of the plan (queries.hpp).
    Result<IdentityStatus> status(const IdentityKey& id, bool with_forecast = false);
    Result<std::vector<IdentityStatus>> status_all(bool with_forecast = false);
    Status set_level(const IdentityKey& id, uint32_t level, std::string_view why = "set-level");
    Status set_paused(const IdentityKey& id, bool paused);
    // Bounces and complaints counted on `day` (default today); used by the
    // delivery-status work and by tests to simulate a bad day.
    Status add_feedback(const IdentityKey& id, uint64_t bounced, uint64_t complained,
                        std::optional<int32_t> day = std::nullopt);
    // The same inside the caller's write transaction (the delivery follower
    // counts a bounce in the transaction that records it, so it is counted
    // once whatever restarts).
    // With a shared state the fleet's counters are updated too, at most
    // once per `event` id when one is given.
    void add_feedback(store::Txn& txn, const IdentityKey& id, uint64_t bounced, uint64_t complained, int32_t day,
                      std::string_view event = {});
    Result<std::vector<HeldMail>> held(std::optional<IdentityKey> only = std::nullopt);
    // `volume` kWholePlan: the curve to the top of the plan (model.hpp).
    Result<Forecast> forecast(const IdentityKey& id, uint64_t volume, int max_days = 365);
    Result<Counters> counters(const IdentityKey& id, int32_t day);

    const TimeZone& time_zone() const { return tz_; }
    const Settings& settings() const { return settings_; }
    policy::Policy& policy() { return *policy_; }
    store::Env& env() { return *env_; }
    store::SharedState* shared() { return shared_.get(); }

private:
    Engine(Settings s, std::shared_ptr<store::Env> env, std::shared_ptr<policy::Policy> p, TimeZone tz);

    struct Loaded;
    Limit ask_limit(const IdentityView& v);
    bool ask_upgrade(const IdentityView& v, const DayView& y);
    OverQuota ask_over_quota(const MessageView& m, const IdentityView& v);
    Loaded read(store::Txn& txn, const IdentityKey& id, int32_t today, int64_t now);
    void refresh(store::Txn& txn, Loaded& l, int32_t today);
    // Lua (and, with a shared state, the fleet's store): never inside a
    // transaction.
    Status evaluate(Loaded& l, int32_t today, int64_t now, bool with_limit);
    void roll_to_today(Loaded& l, int32_t today, int64_t now);
    Status from_fleet(Loaded& l, int32_t today, int64_t now);
    bool unchanged(store::Txn& txn, const Loaded& l);
    void write_state(store::Txn& txn, const Loaded& l, int64_t now);
    Status record_over(store::Txn& txn, const mail::Message& m, const std::vector<IdentityKey>& ids,
                       const DomainCounts& domains, const Loaded& l, const Fit& over_fit, const OverQuota& oq,
                       int64_t now, bool allow_overflow, Decision& d, const std::function<void()>& charge_held,
                       const std::function<void()>& charge_sent);
    Result<std::vector<IdentityStatus>> collect_status(const std::optional<IdentityKey>& only);
    Status change_state(const IdentityKey& id,
                        const std::function<std::optional<LevelChange>(IdentityState&, int32_t, int64_t)>& edit);
    IdentityView view(const IdentityKey& id, const IdentityState& s, int32_t day, int64_t now, const Counters& today,
                      const Usage& usage) const;
    void put_counters(store::Txn& txn, const IdentityKey& id, int32_t day, const Counters& c, const Usage& usage,
                      const Need& delta);
    void append_history(store::Txn& txn, const IdentityKey& id, const LevelChange& c);
    Counters get_counters(store::Txn& txn, const IdentityKey& id, int32_t day);
    Usage get_usage(store::Txn& txn, const IdentityKey& id, int32_t day);

    Settings settings_;
    std::shared_ptr<store::Env> env_;
    std::shared_ptr<policy::Policy> policy_;
    std::shared_ptr<store::SharedState> shared_;
    TimeZone tz_;

    // ---- the fleet-wide order of held mail (release.cpp) ----
    store::HeldOrder order_entry(const HeldMail& h, int64_t due_at, int64_t expires_at) const;
    int64_t order_grace() const;
    // Best effort: a failure is logged once until a registration succeeds.
    void register_held(const HeldMail& h, const store::HeldOrder& e);
    std::string node_;  // this store's node id (store/node_id.hpp), with a shared state
    std::atomic<bool> order_ok_{true};

    store::Table t_identity_, t_day_, t_group_, t_history_, t_held_, t_held_qid_;
};

}  // namespace ses::warmup
