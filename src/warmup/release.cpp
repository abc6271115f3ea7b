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
        // What this pass charged in the fleet's shared store, refunded when
        // the local transaction does not commit.
        std::vector<std::pair<std::vector<store::QuotaCharge>, uint64_t>> shared_charged;
        auto refund_shared = [&] {
            for (const auto& [keys, n] : shared_charged) (void)shared_->refund(keys, today, n);
            shared_charged.clear();
        };
        st = env_->update([&](store::Txn& txn) -> Status {
            refund_shared();
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
            int64_t tomorrow = tz_.day_start(today + 1);
            for (size_t i = 0; i < due.size(); ++i) {
                Item& it = due[i];
                bool fits_fleet = true;
                if (plan[i] && batch.size() < batch_max && shared_) {
                    // Released mail counts in the fleet's total too: another
                    // host may have used today's quota, and then this one
                    // waits like mail that does not fit here.
                    std::vector<store::QuotaCharge> keys;
                    for (const auto& id : it.mail.identities) {
                        const Loaded& l = loaded[id.key()];
                        keys.push_back({id.key(), l.state.paused ? 0 : l.limit.total});
                    }
                    auto a = shared_->charge(keys, today, it.mail.recipients, kSharedDayTtl);
                    if (!a) return a.error();
                    if (a->charged)
                        shared_charged.emplace_back(std::move(keys), it.mail.recipients);
                    else
                        fits_fleet = false;
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

}  // namespace ses::warmup
