// lmdb_state.cpp -- see lmdb_state.hpp.
#include "store/lmdb_state.hpp"

#include <atomic>

#include "store/codec.hpp"
#include "store/schema.hpp"

namespace ses::store {

namespace {

std::string day_prefixed(int32_t day, std::string_view rest) {
    std::string k;
    put_u32be(k, static_cast<uint32_t>(day) ^ 0x80000000u);  // order-preserving for negative days
    k.append(rest);
    return k;
}

class LmdbState final : public SharedState {
public:
    explicit LmdbState(std::shared_ptr<Env> env) : env_(std::move(env)) {
        quota_ = env_->table(table::shared_quota);
        supp_ = env_->table(table::shared_suppression);
        count_ = env_->table(table::shared_count);
        event_ = env_->table(table::shared_event);
        identity_ = env_->table(table::shared_identity);
        feedback_ = env_->table(table::shared_feedback);
    }

    Result<QuotaAnswer> charge(const std::vector<QuotaCharge>& keys, int32_t day, uint64_t n, int64_t) override {
        QuotaAnswer a;
        Status st = env_->update([&](Txn& txn) -> Status {
            a = QuotaAnswer{};
            std::vector<uint64_t> used;
            for (size_t i = 0; i < keys.size(); ++i) {
                auto v = txn.get(quota_, day_prefixed(day, keys[i].key));
                used.push_back(v ? get_u64be(*v) : 0);
                if (used.back() + keys[i].n.value_or(n) > keys[i].limit) {
                    a.over = static_cast<int>(i);
                    a.used = used.back();
                    return txn.status();
                }
            }
            for (size_t i = 0; i < keys.size(); ++i) {
                std::string v;
                put_u64be(v, used[i] + keys[i].n.value_or(n));
                txn.put(quota_, day_prefixed(day, keys[i].key), v);
            }
            a.charged = true;
            a.used = used.empty() ? 0 : used[0];
            return txn.status();
        });
        if (!st) return fail(st.error());
        return a;
    }

    Status refund(const std::vector<QuotaCharge>& keys, int32_t day, uint64_t n) override {
        Status st = env_->update([&](Txn& txn) -> Status {
            for (const auto& k : keys) {
                std::string key = day_prefixed(day, k.key);
                auto v = txn.get(quota_, key);
                uint64_t u = v ? get_u64be(*v) : 0, kn = k.n.value_or(n);
                std::string nv;
                put_u64be(nv, u > kn ? u - kn : 0);
                txn.put(quota_, key, nv);
            }
            return txn.status();
        });
        if (!st) return fail(st.error());
        return ok_status();
    }

    Result<uint64_t> used(std::string_view key, int32_t day) override {
        uint64_t u = 0;
        Status st = env_->view([&](Txn& txn) -> Status {
            if (auto v = txn.get(quota_, day_prefixed(day, key))) u = get_u64be(*v);
            return txn.status();
        });
        if (!st) return fail(st.error());
        return u;
    }

    Result<std::optional<std::string>> suppression_get(std::string_view key) override {
        std::optional<std::string> out;
        Status st = env_->view([&](Txn& txn) -> Status {
            if (auto v = txn.get(supp_, key)) out = std::string(*v);
            return txn.status();
        });
        if (!st) return fail(st.error());
        return out;
    }

    Status suppression_put(std::string_view key, std::string_view value) override {
        Status st = env_->update([&](Txn& txn) -> Status {
            txn.put(supp_, key, value);
            return txn.status();
        });
        if (!st) return fail(st.error());
        return ok_status();
    }

    Result<bool> suppression_del(std::string_view key) override {
        bool found = false;
        Status st = env_->update([&](Txn& txn) -> Status {
            found = txn.del(supp_, key);
            return txn.status();
        });
        if (!st) return fail(st.error());
        return found;
    }

    Result<std::vector<std::pair<std::string, std::string>>> suppression_list(std::string_view prefix,
                                                                              size_t limit) override {
        std::vector<std::pair<std::string, std::string>> out;
        Status st = env_->view([&](Txn& txn) -> Status {
            out.clear();
            Cursor c(txn, supp_);
            // LMDB refuses an empty key, so the whole table starts at first().
            for (bool ok = prefix.empty() ? c.first() : c.seek(prefix);
                 ok && out.size() < limit && c.key().starts_with(prefix); ok = c.next())
                out.emplace_back(std::string(c.key()), std::string(c.value()));
            return txn.status();
        });
        if (!st) return fail(st.error());
        return out;
    }

    Result<bool> count(int32_t day, std::string_view name, std::string_view event) override {
        bool counted = false;
        Status st = env_->update([&](Txn& txn) -> Status {
            counted = false;
            std::string ek = day_prefixed(day, event);
            if (txn.get(event_, ek)) return txn.status();
            txn.put(event_, ek, {});
            std::string ck = day_prefixed(day, name);
            auto v = txn.get(count_, ck);
            std::string nv;
            put_u64be(nv, (v ? get_u64be(*v) : 0) + 1);
            txn.put(count_, ck, nv);
            counted = true;
            return txn.status();
        });
        if (!st) return fail(st.error());
        return counted;
    }

    Result<std::map<std::string, uint64_t>> totals(int32_t day) override {
        std::map<std::string, uint64_t> out;
        std::string prefix = day_prefixed(day, {});
        Status st = env_->view([&](Txn& txn) -> Status {
            out.clear();
            Cursor c(txn, count_);
            for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next())
                out[std::string(c.key().substr(prefix.size()))] = get_u64be(c.value());
            return txn.status();
        });
        if (!st) return fail(st.error());
        return out;
    }

    Result<SharedIdentity> identity_get(std::string_view key, int32_t day) override {
        SharedIdentity out;
        Status st = env_->view([&](Txn& txn) -> Status {
            out = SharedIdentity{};
            if (auto v = txn.get(identity_, key); v && v->size() >= 8) {
                out.version = get_u64be(*v);
                out.value = std::string(v->substr(8));
            }
            out.day = read_day(txn, key, day);
            return txn.status();
        });
        if (!st) return fail(st.error());
        return out;
    }

    Result<bool> identity_put(std::string_view key, uint64_t version, std::string_view value) override {
        bool put = false;
        Status st = env_->update([&](Txn& txn) -> Status {
            put = false;
            auto v = txn.get(identity_, key);
            uint64_t now = v && v->size() >= 8 ? get_u64be(*v) : 0;
            if (now != version) return txn.status();
            std::string nv;
            put_u64be(nv, version + 1);
            nv.append(value);
            txn.put(identity_, key, nv);
            put = true;
            return txn.status();
        });
        if (!st) return fail(st.error());
        return put;
    }

    Result<SharedDay> day_get(std::string_view key, int32_t day) override {
        SharedDay out;
        Status st = env_->view([&](Txn& txn) -> Status {
            out = read_day(txn, key, day);
            return txn.status();
        });
        if (!st) return fail(st.error());
        return out;
    }

    Result<bool> feedback_add(std::string_view key, int32_t day, uint64_t bounced, uint64_t complained,
                              std::string_view event, int64_t) override {
        bool counted = false;
        Status st = env_->update([&](Txn& txn) -> Status {
            counted = false;
            if (!event.empty()) {
                // In the statistics' event table, apart from their ids by
                // the leading NUL (a statistics event id never starts so).
                std::string ek = day_prefixed(day, std::string(1, '\0') + "f" + std::string(key) + '\0');
                ek.append(event);
                if (txn.get(event_, ek)) return txn.status();
                txn.put(event_, ek, {});
            }
            std::string fk = day_prefixed(day, key);
            auto v = txn.get(feedback_, fk);
            uint64_t b = v && v->size() >= 16 ? get_u64be(*v) : 0;
            uint64_t c = v && v->size() >= 16 ? get_u64be(v->substr(8)) : 0;
            std::string nv;
            put_u64be(nv, b + bounced);
            put_u64be(nv, c + complained);
            txn.put(feedback_, fk, nv);
            counted = true;
            return txn.status();
        });
        if (!st) return fail(st.error());
        return counted;
    }

    SharedHealth health() const override {
        return SharedHealth{"lmdb", true, errors_.load(std::memory_order_relaxed), 0};
    }

    // ---- the held-mail order: one host, whose release plan is the order ----
    Status held_register(const std::vector<std::string>&, const HeldOrder&) override { return ok_status(); }
    Status held_remove(const std::vector<std::string>&, std::string_view) override { return ok_status(); }
    Result<QuotaAnswer> charge_in_order(const std::vector<QuotaCharge>& keys, int32_t day, int64_t ttl,
                                        const HeldOrder& e, int64_t) override {
        return charge(keys, day, e.recipients, ttl);
    }

private:
    SharedDay read_day(Txn& txn, std::string_view key, int32_t day) {
        SharedDay d;
        if (auto v = txn.get(quota_, day_prefixed(day, key))) d.sent = get_u64be(*v);
        if (auto v = txn.get(feedback_, day_prefixed(day, key)); v && v->size() >= 16) {
            d.bounced = get_u64be(*v);
            d.complained = get_u64be(v->substr(8));
        }
        return d;
    }

    Error fail(Error e) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        return e;
    }

    std::shared_ptr<Env> env_;
    Table quota_, supp_, count_, event_, identity_, feedback_;
    std::atomic<uint64_t> errors_{0};

public:
    // ---- batched statistics counters ----------------------------------------

    Result<std::vector<bool>> count_many(const std::vector<CountOp>& ops) override {
        std::vector<bool> out;
        if (ops.empty()) return out;
        Status st = env_->update([&](Txn& txn) -> Status {
            out.clear();
            for (const auto& op : ops) {
                std::string ek = day_prefixed(op.day, op.event);
                if (txn.get(event_, ek)) {
                    out.push_back(false);
                    continue;
                }
                txn.put(event_, ek, {});
                std::string ck = day_prefixed(op.day, op.name);
                auto v = txn.get(count_, ck);
                std::string nv;
                put_u64be(nv, (v ? get_u64be(*v) : 0) + op.n);
                txn.put(count_, ck, nv);
                out.push_back(true);
            }
            return txn.status();
        });
        if (!st) return fail(st.error());
        return out;
    }
};

}  // namespace

std::shared_ptr<SharedState> make_lmdb_state(std::shared_ptr<Env> env) {
    return std::make_shared<LmdbState>(std::move(env));
}

}  // namespace ses::store
