// release.cpp -- the release protocol of held mail (see release.hpp).
#include <algorithm>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "warmup/engine_internal.hpp"

namespace ses::warmup {

using detail::kConflict;
using detail::kDecideAttempts;
using detail::kSharedDayTtl;
using detail::starts_with;

Result<ReleaseBatch> Engine::begin_release() {
    using Item = ReleaseItem;
    ReleaseBatch out;
    const size_t batch_max = std::max<size_t>(1, settings_.release_batch);
    for (int attempt = 0; attempt < kDecideAttempts; ++attempt) {
        std::vector<Item>& batch = out.items;
        size_t& deferred = out.deferred;
        batch.clear();
        deferred = 0;
        int64_t now = clock::now();
        int32_t today = tz_.day_of(now);

        // The identities of what is due, and their limits: read, then asked
        // of the policy outside any transaction (see admit()).
        std::map<std::string, Loaded> loaded;
        Status st = env_->view([&](store::Txn& txn) -> Status {
            loaded.clear();
            store::Cursor c(txn, t_held_);
            size_t n = 0;
            for (bool ok = c.first(); ok && n < batch_max * 4; ok = c.next()) {
                if (held_key_release_at(c.key()) > now) break;
                auto h = decode_held(c.value());
                if (!h || h->state == HeldMail::State::releasing) continue;
                ++n;
                for (const auto& id : h->identities)
                    if (!loaded.count(id.key())) loaded.emplace(id.key(), read(txn, id, today, now));
            }
            return txn.status();
        });
        if (!st) return st.error();
        for (auto& [ik, l] : loaded)
            if (Status e = evaluate(l, today, now, true); !e) return e.error();

        bool conflict = false;
        int64_t tomorrow = tz_.day_start(today + 1);
        // What this pass charged in the fleet's shared store, refunded when
        // the local transaction does not commit; the ordered charge took the
        // message out of the fleet's order, so it goes back in.
        struct SharedCharge {
            std::vector<store::QuotaCharge> keys;
            HeldMail mail;
            store::HeldOrder entry;
        };
        std::vector<SharedCharge> shared_charged;
        auto refund_shared = [&] {
            for (const auto& c : shared_charged) {
                (void)shared_->refund(c.keys, today, c.entry.recipients);
                register_held(c.mail, c.entry);
            }
            shared_charged.clear();
        };
        // Due mail that waits (does not fit here): registered again in the
        // fleet's order once the pass commits, so a missed registration
        // heals and the owner's refresh keeps the entry from expiring.
        std::vector<std::pair<HeldMail, store::HeldOrder>> waiting;
        st = env_->update([&](store::Txn& txn) -> Status {
            refund_shared();
            waiting.clear();
            batch.clear();
            deferred = 0;
            conflict = false;
            std::vector<Item> due;
            {
                store::Cursor c(txn, t_held_);
                for (bool ok = c.first(); ok && due.size() < batch_max * 4; ok = c.next()) {
                    if (held_key_release_at(c.key()) > now) break;
                    auto h = decode_held(c.value());
                    if (!h) continue;
                    if (h->state == HeldMail::State::releasing) {
                        // An earlier pass died or the MTA failed: try again,
                        // already charged.
                        if (now - h->releasing_since >= settings_.release_retry && batch.size() < batch_max)
                            batch.push_back({std::string(c.key()), *h});
                        continue;
                    }
                    due.push_back({std::string(c.key()), *h});
                }
            }
            for (Item& it : batch) {
                it.mail.releasing_since = now;
                it.mail.attempts++;
                txn.put(t_held_, it.key, encode(it.mail));
            }
            std::map<std::string, Quota> quotas;
            std::vector<Candidate> cands;
            for (const Item& it : due) {
                Candidate c;
                for (const auto& id : it.mail.identities) {
                    std::string ik = id.key();
                    if (!quotas.count(ik)) {
                        auto l = loaded.find(ik);
                        if (l == loaded.end() || !unchanged(txn, l->second)) {
                            conflict = true;  // new mail or a changed identity: decide again
                            batch.clear();
                            return kConflict;  // aborts: nothing written
                        }
                        refresh(txn, l->second, today);
                        write_state(txn, l->second, now);
                        quotas[ik] = Quota{l->second.limit, l->second.usage, l->second.state.paused};
                    }
                    c.identities.push_back(ik);
                }
                c.domains = it.mail.domains;
                cands.push_back(std::move(c));
            }
            std::vector<bool> plan = plan_release(cands, quotas);
            for (size_t i = 0; i < due.size(); ++i) {
                Item& it = due[i];
                bool fits_fleet = true;
                // Its place in the fleet's order while it waits: due since
                // its release time, kept until the day it waits for.
                store::HeldOrder entry;
                if (shared_)
                    entry = order_entry(it.mail, it.mail.release_at,
                                        std::max(tomorrow, it.mail.release_at) + order_grace());
                if (plan[i] && batch.size() < batch_max && shared_) {
                    // Released mail counts in the fleet's total too, behind
                    // the older held mail of every host: another host may
                    // have used today's quota or hold older mail, and then
                    // this one waits like mail that does not fit here.
                    std::vector<store::QuotaCharge> keys;
                    for (const auto& id : it.mail.identities) {
                        const Loaded& l = loaded[id.key()];
                        keys.push_back({id.key(), l.state.paused ? 0 : l.limit.total});
                    }
                    auto a = shared_->charge_in_order(keys, today, kSharedDayTtl, entry, now);
                    if (!a) return a.error();
                    if (a->charged)
                        shared_charged.push_back({std::move(keys), it.mail, entry});
                    else
                        fits_fleet = false;  // registered by the ordered charge
                } else if (!plan[i] && shared_) {
                    waiting.emplace_back(it.mail, entry);
                }
                if (plan[i] && fits_fleet && batch.size() < batch_max) {
                    for (const auto& id : it.mail.identities) {
                        Loaded& l = loaded[id.key()];
                        Need need = need_of(l.limit, it.mail.domains);
                        l.counters.sent += it.mail.recipients;
                        l.counters.released += it.mail.recipients;
                        charge(l.usage, need);
                        put_counters(txn, l.id, today, l.counters, l.usage, need);
                    }
                    it.mail.state = HeldMail::State::releasing;
                    it.mail.charged_day = today;
                    it.mail.releasing_since = now;
                    it.mail.attempts++;
                    txn.put(t_held_, it.key, encode(it.mail));
                    batch.push_back(it);
                } else if (!plan[i] || !fits_fleet) {
                    // Wait for the next day's quota; the new key keeps the
                    // oldest-first order among what is due then.
                    txn.del(t_held_, it.key);
                    it.mail.release_at = std::max(tomorrow, it.mail.release_at);
                    std::string key = held_key(it.mail.release_at, it.mail.held_at, it.mail.queue_id);
                    txn.put(t_held_, key, encode(it.mail));
                    txn.put(t_held_qid_, it.mail.queue_id, key);
                    deferred++;
                }
            }
            return txn.status();
        });
        if (conflict || !st) refund_shared();
        if (conflict) continue;
        if (!st) return st.error();
        for (const auto& [mail, entry] : waiting) register_held(mail, entry);
        out.full = batch.size() >= batch_max;
        return out;
    }
    out.items.clear();  // the store kept changing: the next pass tries again
    out.deferred = 0;
    return out;
}

Status Engine::finish_release(const ReleaseBatch& batch, const std::vector<ReleaseOutcome>& outcomes) {
    if (outcomes.size() != batch.items.size()) return internal_error("warm-up: one outcome per released message");
    return env_->update([&](store::Txn& txn) -> Status {
        for (size_t i = 0; i < batch.items.size(); ++i) {
            if (outcomes[i] == ReleaseOutcome::failed) continue;  // stays "releasing": retried later, not charged twice
            const ReleaseItem& it = batch.items[i];
            txn.del(t_held_, it.key);
            auto idx = txn.get(t_held_qid_, it.mail.queue_id);
            if (idx && *idx == it.key) txn.del(t_held_qid_, it.mail.queue_id);
        }
        return txn.status();
    });
}

// ---- the fleet-wide order of held mail ----------------------------------

store::HeldOrder Engine::order_entry(const HeldMail& h, int64_t due_at, int64_t expires_at) const {
    return store::HeldOrder{node_ + "|" + h.queue_id, h.held_at, due_at, h.recipients, expires_at};
}

// How long a registration outlives the time its owner should next look at
// it: a few release passes, so that one slow or missed pass does not let
// younger mail overtake, while a host that died (or mail removed behind
// the engine's back) blocks the others for no longer than that.
int64_t Engine::order_grace() const { return std::max<int64_t>(4 * settings_.release_interval, 900); }

void Engine::register_held(const HeldMail& h, const store::HeldOrder& e) {
    std::vector<std::string> keys;
    for (const auto& id : h.identities) keys.push_back(id.key());
    Status st = shared_->held_register(keys, e);
    if (st) {
        if (!order_ok_.exchange(true)) log::notice("warm-up: held mail is registered in the fleet's order again");
        return;
    }
    // The mail is safe in the hold queue; the next release pass registers
    // it again.  Once per outage, not per message.
    if (order_ok_.exchange(false))
        log::warn("warm-up: held mail not registered in the fleet's order (" + st.error().what +
                  "); the release passes register it again");
}

}  // namespace ses::warmup
