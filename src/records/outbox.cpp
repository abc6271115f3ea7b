// outbox.cpp -- see outbox.hpp.
#include "records/outbox.hpp"

#include <algorithm>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/strings.hpp"

namespace ses::records {
namespace {

constexpr uint8_t kV1 = 1;

std::string outbox_key(std::string_view hook, const Event& e) {
    return store::KeyBuilder().text0(hook).text0(str::lower(e.recipient)).u64(e.seq).take();
}
std::string failed_key(uint64_t seq, std::string_view hook) { return store::KeyBuilder().u64(seq).text(hook).take(); }

std::string encode_entry(const OutboxEntry& o) {
    store::Writer w;
    w.u8(kV1).i64(o.event.time).u64(o.event.seq).str(encode_event(o.event)).u32(o.attempts).i64(o.next_attempt);
    w.str(o.last_error);
    return w.take();
}

std::optional<OutboxEntry> decode_entry(std::string_view v, store::Reader* rest = nullptr) {
    store::Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    OutboxEntry o;
    int64_t time = r.i64();
    uint64_t seq = r.u64();
    auto e = decode_event_fields(r.str());
    if (!e) return std::nullopt;
    o.event = std::move(*e);
    o.event.time = time;
    o.event.seq = seq;
    o.attempts = r.u32();
    o.next_attempt = r.i64();
    o.last_error = r.str();
    if (!r.good()) return std::nullopt;
    if (rest) *rest = r;
    return o;
}

// The hook and recipient part of an outbox key (everything before the seq).
std::string_view group_of(std::string_view key) { return key.size() >= 8 ? key.substr(0, key.size() - 8) : key; }

}  // namespace

bool Subscription::wants(EventType t) const {
    return events.empty() || std::find(events.begin(), events.end(), t) != events.end();
}

Result<std::vector<Subscription>> subscriptions_from(const config::Config& cfg) {
    std::vector<Subscription> out;
    for (const auto& w : cfg.webhooks) {
        Subscription s;
        s.hook = w.id;
        for (const auto& name : w.events) {
            auto t = parse_event_name(name);
            if (!t) {
                std::string known;
                for (int i = 0; i < kEventTypes; ++i)
                    known += (known.empty() ? "" : ", ") + std::string(event_name(static_cast<EventType>(i)));
                return internal_error("webhook " + w.id + ": events: unknown event type \"" + name +
                                      "\" (known: " + known + ")");
            }
            s.events.push_back(*t);
        }
        out.push_back(std::move(s));
    }
    return out;
}

int64_t retry_delay(const RetryPolicy& p, uint32_t failures) {
    int64_t d = std::max<int64_t>(1, p.base);
    for (uint32_t i = 1; i < failures && d < p.cap; ++i) d *= 2;
    return std::min(d, std::max<int64_t>(1, p.cap));
}

Outbox::Outbox(std::shared_ptr<store::Env> env, std::vector<Subscription> subs)
    : env_(std::move(env)), subs_(std::move(subs)) {
    outbox_ = env_->table(store::table::webhook_outbox);
    failed_ = env_->table(store::table::webhook_failed);
}

Status Outbox::on_event(store::Txn& txn, const Event& e) const {
    for (const auto& s : subs_) {
        if (!s.wants(e.type)) continue;
        OutboxEntry o;
        o.event = e;
        txn.put(outbox_, outbox_key(s.hook, e), encode_entry(o));
    }
    return txn.status();
}

std::vector<OutboxEntry> Outbox::due(store::Txn& txn, std::string_view hook, int64_t now, size_t max) const {
    std::vector<OutboxEntry> out;
    std::string prefix = store::KeyBuilder().text0(hook).take();
    store::Cursor c(txn, outbox_);
    std::string group;
    bool group_due = false;
    for (bool ok = c.seek(prefix); ok && out.size() < max; ok = c.next()) {
        std::string_view k = c.key();
        if (k.substr(0, prefix.size()) != prefix) break;
        bool head = group_of(k) != group;
        if (!head && !group_due) continue;  // waits for its head: not even decoded
        auto e = decode_entry(c.value());
        if (!e) continue;
        if (head) {
            group = std::string(group_of(k));
            group_due = e->next_attempt <= now;
        }
        if (!group_due) continue;
        e->hook = std::string(hook);
        e->key = std::string(k);
        out.push_back(std::move(*e));
    }
    return out;
}

std::optional<int64_t> Outbox::next_due(store::Txn& txn, std::string_view hook) const {
    std::optional<int64_t> best;
    std::string prefix = store::KeyBuilder().text0(hook).take();
    store::Cursor c(txn, outbox_);
    std::string group;
    for (bool ok = c.seek(prefix); ok; ok = c.next()) {
        std::string_view k = c.key();
        if (k.substr(0, prefix.size()) != prefix) break;
        if (group_of(k) == group) continue;
        group = std::string(group_of(k));
        if (auto e = decode_entry(c.value())) best = std::min(best.value_or(e->next_attempt), e->next_attempt);
    }
    return best;
}

size_t Outbox::pending(store::Txn& txn, std::string_view hook) const {
    std::string prefix = store::KeyBuilder().text0(hook).take();
    store::Cursor c(txn, outbox_);
    size_t n = 0;
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) ++n;
    return n;
}

Status Outbox::delivered(store::Txn& txn, const std::vector<OutboxEntry>& batch) const {
    for (const auto& e : batch) txn.del(outbox_, e.key);
    return txn.status();
}

Result<std::vector<OutboxEntry>> Outbox::attempt_failed(store::Txn& txn, const std::vector<OutboxEntry>& batch,
                                                        std::string_view error, int64_t now,
                                                        const RetryPolicy& p) const {
    std::vector<OutboxEntry> gave_up;
    for (const auto& b : batch) {
        // Re-read: the batch was chosen in an earlier transaction.
        auto v = txn.get(outbox_, b.key);
        if (!v) continue;
        auto e = decode_entry(*v);
        if (!e) continue;
        e->hook = b.hook;
        e->key = b.key;
        e->attempts++;
        e->last_error = bounded(error);
        if (now - e->event.time >= p.max_age) {
            e->failed_at = now;
            store::Writer w;
            std::string val = encode_entry(*e);
            w.i64(now);
            val += w.take();
            txn.del(outbox_, b.key);
            txn.put(failed_, failed_key(e->event.seq, e->hook), val);
            gave_up.push_back(std::move(*e));
        } else {
            e->next_attempt = now + retry_delay(p, e->attempts);
            txn.put(outbox_, b.key, encode_entry(*e));
        }
    }
    if (auto st = txn.status(); !st) return st.error();
    return gave_up;
}

std::vector<OutboxEntry> Outbox::failed(store::Txn& txn, size_t limit) const {
    std::vector<OutboxEntry> out;
    store::Cursor c(txn, failed_);
    for (bool ok = c.first(); ok && out.size() < limit; ok = c.next()) {
        store::Reader rest(std::string_view{});
        auto e = decode_entry(c.value(), &rest);
        if (!e) continue;
        e->failed_at = rest.i64();
        e->hook = std::string(c.key().substr(8));
        e->key = std::string(c.key());
        out.push_back(std::move(*e));
    }
    return out;
}

Result<size_t> Outbox::retry(store::Txn& txn, std::optional<uint64_t> seq) const {
    std::vector<OutboxEntry> moving;
    {
        store::Cursor c(txn, failed_);
        std::string prefix = seq ? store::KeyBuilder().u64(*seq).take() : std::string();
        for (bool ok = seq ? c.seek(prefix) : c.first(); ok && c.key().substr(0, prefix.size()) == prefix;
             ok = c.next()) {
            auto e = decode_entry(c.value());
            if (!e) continue;
            e->hook = std::string(c.key().substr(8));
            e->key = std::string(c.key());
            moving.push_back(std::move(*e));
        }
    }
    for (auto& e : moving) {
        txn.del(failed_, e.key);
        e.attempts = 0;
        e.next_attempt = 0;
        txn.put(outbox_, outbox_key(e.hook, e.event), encode_entry(e));
    }
    if (auto st = txn.status(); !st) return st.error();
    return moving.size();
}

}  // namespace ses::records
