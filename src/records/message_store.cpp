// message_store.cpp -- see message_store.hpp.
#include "records/message_store.hpp"

#include <map>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/strings.hpp"

namespace ses::records {
namespace {

constexpr uint8_t kV1 = 1;
constexpr std::string_view kEventSeq = "events_seq";

int32_t utc_day(int64_t t) { return static_cast<int32_t>((t >= 0 ? t : t - 86399) / 86400); }

std::string domain_of(std::string_view address) {
    auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string() : str::lower(address.substr(at + 1));
}

std::string qid_key(std::string_view qid, int64_t t) { return store::KeyBuilder().text0(qid).i64(t).take(); }
std::string time_key(int64_t t, std::string_view id) { return store::KeyBuilder().i64(t).text(id).take(); }
std::string rcpt_key(std::string_view addr, int32_t day, std::string_view id) {
    return store::KeyBuilder().text0(str::lower(addr)).i32(day).text(id).take();
}
std::string stats_key(int32_t day, std::string_view identity, std::string_view group, bool simulated) {
    return store::KeyBuilder().i32(day).text0(identity).text0(group).u8(simulated ? 1 : 0).take();
}

// A counter's name in the shared state: identity, group, simulated flag and
// the counter's field name, tab-separated (none of them holds a tab).
std::string shared_counter(std::string_view identity, std::string_view group, bool simulated, Counter c) {
    return std::string(identity) + '\t' + std::string(group) + '\t' + (simulated ? "1" : "0") + '\t' +
           std::string(counter_name(c));
}

// The shared counts of one write transaction, sent in one call just before
// it commits: a message to 50 recipients (or a follower batch of 50 lines)
// is one round trip, not one per counter, and the process's one LMDB writer
// waits for it once.  Its failure fails the commit, so the update is
// retried whole; the events make the retry count nothing twice.
class SharedCounts final : public store::PreCommit {
public:
    explicit SharedCounts(std::shared_ptr<store::SharedState> shared) : shared_(std::move(shared)) {}
    void add(store::CountOp op) { ops_.push_back(std::move(op)); }
    Status run() override {
        if (ops_.empty()) return ok_status();
        if (auto r = shared_->count_many(ops_); !r) return Error{"statistics (shared state): " + r.error().what, {}};
        return ok_status();
    }

private:
    std::shared_ptr<store::SharedState> shared_;
    std::vector<store::CountOp> ops_;
};

std::optional<Event> decode_event(std::string_view key, std::string_view v) {
    auto e = decode_event_fields(v);
    if (!e) return std::nullopt;
    e->time = store::i64_unkey(store::get_u64be(key, 0));
    e->seq = store::get_u64be(key, 8);
    return e;
}

Counters decode_counters(std::optional<std::string_view> v) {
    Counters c{};
    if (!v) return c;
    store::Reader r(*v);
    if (r.u8() != kV1) return c;
    uint32_t n = r.u32();
    for (uint32_t i = 0; i < n && i < kCounters; ++i) c[i] = r.u64();  // older, shorter rows read as zeros
    return c;
}

std::string encode_counters(const Counters& c) {
    store::Writer w;
    w.u8(kV1).u32(kCounters);
    for (uint64_t v : c) w.u64(v);
    return w.take();
}

}  // namespace

std::string_view counter_name(Counter c) {
    switch (c) {
        case requests:
            return "RequestCount";
        case accepted:
            return "AcceptedCount";
        case delivered:
            return "DeliveredCount";
        case deferred:
            return "DeferredCount";
        case bounces:
            return "BounceCount";
        case hard_bounces:
            return "HardBounceCount";
        case soft_bounces:
            return "SoftBounceCount";
        case complaints:
            return "ComplaintCount";
        case opens:
            return "OpenedCount";
        case unique_opens:
            return "UniqueOpenedCount";
        case clicks:
            return "ClickCount";
        case unique_clicks:
            return "ClickedCount";
        case unsubscribes:
            return "UnsubscribeCount";
        case dropped:
            return "DroppedCount";
        case held:
            return "HeldCount";
        case kCounters:
            break;
    }
    return "?";
}

std::string encode_event(const Event& e) {
    store::Writer w;
    w.u8(kV1).str(e.message_id).str(e.recipient).u8(static_cast<uint8_t>(e.type)).u8(static_cast<uint8_t>(e.bounce));
    w.str(e.dsn).str(e.text).u8(e.simulated ? 1 : 0);
    return w.take();
}

std::optional<Event> decode_event_fields(std::string_view v) {
    store::Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    Event e;
    e.message_id = r.str();
    e.recipient = r.str();
    e.type = static_cast<EventType>(r.u8());
    e.bounce = static_cast<BounceType>(r.u8());
    e.dsn = r.str();
    e.text = r.str();
    e.simulated = r.u8() != 0;
    if (!r.good() || static_cast<int>(e.type) >= kEventTypes) return std::nullopt;
    return e;
}

RecipientRecord* MessageRecord::recipient(std::string_view address) {
    for (auto& r : recipients)
        if (str::iequals(r.address, address)) return &r;
    return nullptr;
}

std::string encode(const MessageRecord& m) {
    store::Writer w;
    w.u8(kV1).str(m.id).str(m.queue_id).str(m.identity).str(m.sender).str(m.from).str(m.subject).str(m.template_name);
    w.u64(m.size).i64(m.request_time).u8(m.simulated ? 1 : 0).u32(static_cast<uint32_t>(m.recipients.size()));
    for (auto& r : m.recipients) {
        const RecipientState& s = r.state;
        w.str(r.address).u32(static_cast<uint32_t>(s.send_status)).u8(static_cast<uint8_t>(s.deliver));
        w.u8(static_cast<uint8_t>(s.bounce)).str(s.deliver_message).i64(s.request_time).i64(s.deliver_time);
        w.u8(static_cast<uint8_t>(s.deferred_once | s.opened << 1 | s.clicked << 2 | s.unsubscribed << 3 |
                                  s.complained << 4 | s.simulated << 5));
    }
    // Appended fields: a record written before them simply ends here.
    if (!m.pool.empty()) w.str(m.pool).str(m.source_address).str(m.overflow_from);
    return w.take();
}

std::optional<MessageRecord> decode_record(std::string_view v) {
    store::Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    MessageRecord m;
    m.id = r.str();
    m.queue_id = r.str();
    m.identity = r.str();
    m.sender = r.str();
    m.from = r.str();
    m.subject = r.str();
    m.template_name = r.str();
    m.size = r.u64();
    m.request_time = r.i64();
    m.simulated = r.u8() != 0;
    uint32_t n = r.u32();
    for (uint32_t i = 0; i < n && r.good(); ++i) {
        RecipientRecord rr;
        rr.address = r.str();
        RecipientState& s = rr.state;
        s.send_status = static_cast<int>(r.u32());
        s.deliver = static_cast<Deliver>(r.u8());
        s.bounce = static_cast<BounceType>(r.u8());
        s.deliver_message = r.str();
        s.request_time = r.i64();
        s.deliver_time = r.i64();
        uint8_t f = r.u8();
        s.deferred_once = f & 1;
        s.opened = f & 2;
        s.clicked = f & 4;
        s.unsubscribed = f & 8;
        s.complained = f & 16;
        s.simulated = f & 32;
        m.recipients.push_back(std::move(rr));
    }
    if (r.good() && !r.at_end()) {
        m.pool = r.str();
        m.source_address = r.str();
        m.overflow_from = r.str();
    }
    if (!r.good()) return std::nullopt;
    return m;
}

MessageStore::MessageStore(std::shared_ptr<store::Env> env, StoreSettings s)
    : env_(std::move(env)), settings_(std::move(s)) {
    if (!settings_.day_of) settings_.day_of = utc_day;
    records_ = env_->table(store::table::records);
    qid_ = env_->table(store::table::records_qid);
    rcpt_day_ = env_->table(store::table::records_rcpt_day);
    time_ = env_->table(store::table::records_time);
    events_ = env_->table(store::table::events);
    stats_ = env_->table(store::table::stats_day);
}

Result<std::shared_ptr<MessageStore>> MessageStore::open(std::shared_ptr<store::Env> env, StoreSettings s) {
    if (!env) return internal_error("message store: no store");
    for (auto& g : s.mailbox_groups) g = str::lower(g);
    return std::shared_ptr<MessageStore>(new MessageStore(std::move(env), std::move(s)));
}

std::string MessageStore::mailbox_group(std::string_view address) const {
    std::string dom = domain_of(address);
    for (auto& g : settings_.mailbox_groups)
        if (dom == g) return g;
    return "other";
}

void MessageStore::count(store::Txn& txn, int64_t time, const std::string& identity, std::string_view address,
                         bool simulated, Counter c, std::string_view event, uint64_t n) {
    int32_t day = day_of(time);
    std::string group = mailbox_group(address);
    if (settings_.shared && txn.status()) {
        auto* batch = static_cast<SharedCounts*>(txn.pre_commit(this));
        if (!batch)
            batch =
                static_cast<SharedCounts*>(&txn.add_pre_commit(this, std::make_unique<SharedCounts>(settings_.shared)));
        batch->add(store::CountOp{day, shared_counter(identity, group, simulated, c),
                                  std::string(event) + '\0' + std::string(counter_name(c)), n});
    }
    std::string key = stats_key(day, identity, group, simulated);
    Counters cs = decode_counters(txn.get(stats_, key));
    cs[c] += n;
    txn.put(stats_, key, encode_counters(cs));
}

Status MessageStore::write_event(store::Txn& txn, Event& e) {
    auto meta = env_->table(store::table::meta);
    uint64_t seq = 0;
    if (auto v = txn.get(meta, kEventSeq)) seq = store::get_u64be(*v);
    ++seq;
    std::string sv;
    store::put_u64be(sv, seq);
    txn.put(meta, kEventSeq, sv);
    e.seq = seq;
    txn.put(events_, store::KeyBuilder().i64(e.time).u64(seq).take(), encode_event(e));
    if (settings_.on_event && txn.status())
        if (auto st = settings_.on_event(txn, e); !st) return st;
    return txn.status();
}

Result<size_t> MessageStore::note(store::Txn& txn, std::string_view id, std::string_view address, EventType type,
                                  int64_t time, std::string_view text) {
    auto m = get(txn, id);
    if (!m) return size_t{0};
    size_t n = 0;
    for (auto& r : m->recipients) {
        if (!address.empty() && !str::iequals(r.address, address)) continue;
        Event e;
        e.time = time;
        e.message_id = m->id;
        e.recipient = r.address;
        e.type = type;
        e.text = bounded(text);
        e.simulated = m->simulated;
        if (auto st = write_event(txn, e); !st) return st.error();
        ++n;
    }
    return n;
}

Status MessageStore::add(store::Txn& txn, const MessageRecord& rec) {
    MessageRecord m = rec;
    if (m.subject.size() > kMaxSubject) m.subject = bounded(m.subject).substr(0, kMaxSubject);
    txn.put(records_, m.id, encode(m));
    if (!m.queue_id.empty()) txn.put(qid_, qid_key(m.queue_id, m.request_time), m.id);
    txn.put(time_, time_key(m.request_time, m.id), "");
    int32_t day = day_of(m.request_time);
    for (auto& r : m.recipients) {
        txn.put(rcpt_day_, rcpt_key(r.address, day, m.id), "");
        const bool sim = m.simulated || r.state.simulated;
        const std::string ev = m.id + '\0' + r.address;
        count(txn, m.request_time, m.identity, r.address, sim, requests, ev);
        bool dropped_now = r.state.deliver == Deliver::dropped;
        if (dropped_now)
            count(txn, m.request_time, m.identity, r.address, sim, dropped, ev);
        else if (r.state.send_status == send_status::accepted || r.state.send_status == send_status::daily_limit)
            count(txn, m.request_time, m.identity, r.address, sim, accepted, ev);
        if (r.state.send_status == send_status::daily_limit)
            count(txn, m.request_time, m.identity, r.address, sim, held, ev);
        Event e;
        e.time = m.request_time;
        e.message_id = m.id;
        e.recipient = r.address;
        e.type = dropped_now ? EventType::dropped : EventType::processed;
        e.text = dropped_now ? r.state.deliver_message : std::string();
        e.simulated = sim;
        if (auto st = write_event(txn, e); !st) return st;
        if (!dropped_now && r.state.send_status == send_status::daily_limit) {
            // Held by warm-up: the application learns it now, not when it
            // wonders why nothing was delivered (released follows later).
            Event h = e;
            h.type = EventType::held;
            if (auto st = write_event(txn, h); !st) return st;
        }
    }
    return txn.status();
}

std::optional<MessageRecord> MessageStore::get(store::Txn& txn, std::string_view id) {
    auto v = txn.get(records_, id);
    if (!v) return std::nullopt;
    return decode_record(*v);
}

std::optional<std::string> MessageStore::by_queue_id(store::Txn& txn, std::string_view queue_id, int64_t now) {
    std::string prefix = store::KeyBuilder().text0(queue_id).take();
    store::Cursor c(txn, qid_);
    std::optional<std::string> found;
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) {
        int64_t t = store::i64_unkey(store::get_u64be(c.key(), prefix.size()));
        if (t >= now - settings_.queue_id_window) found = std::string(c.value());  // the newest wins
    }
    return found;
}

Status MessageStore::requeued(store::Txn& txn, std::string_view old_qid, std::string_view new_qid, int64_t now) {
    auto id = by_queue_id(txn, old_qid, now);
    if (!id) return txn.status();
    auto m = get(txn, *id);
    if (!m || m->queue_id == new_qid) return txn.status();
    if (!m->queue_id.empty()) txn.del(qid_, qid_key(m->queue_id, m->request_time));
    m->queue_id = std::string(new_qid);
    txn.put(records_, m->id, encode(*m));
    txn.put(qid_, qid_key(m->queue_id, m->request_time), m->id);
    return txn.status();
}

Result<std::vector<Event>> MessageStore::apply(store::Txn& txn, std::string_view id, std::string_view address,
                                               const Outcome& o) {
    std::vector<Event> out;
    auto m = get(txn, id);
    if (!m) return out;
    bool changed = false;
    for (auto& r : m->recipients) {
        if (!address.empty() && !str::iequals(r.address, address)) continue;
        auto c = records::apply(r.state, o);
        if (!c) continue;
        changed = true;
        const bool sim = m->simulated || r.state.simulated;
        // Repeating counters (deferrals, opens, clicks) differ by the
        // outcome's time; a retried outcome has the same one.
        const std::string ev = m->id + '\0' + r.address + '\0' + std::to_string(o.time);
        auto bump = [&](Counter k) { count(txn, m->request_time, m->identity, r.address, sim, k, ev); };
        if (c->count_delivered) bump(delivered);
        if (c->count_deferred) bump(deferred);
        if (c->count_bounce) {
            bump(bounces);
            bump(c->bounce == BounceType::hard ? hard_bounces : soft_bounces);
        }
        if (c->count_complaint) bump(complaints);
        if (c->count_unsubscribe) bump(unsubscribes);
        if (c->count_open) bump(opens);
        if (c->count_unique_open) bump(unique_opens);
        if (c->count_click) bump(clicks);
        if (c->count_unique_click) bump(unique_clicks);
        Event e;
        e.time = o.time;
        e.message_id = m->id;
        e.recipient = r.address;
        e.type = c->event;
        e.bounce = c->bounce;
        e.dsn = o.dsn;
        e.text = bounded(o.text);
        e.simulated = sim;
        if (auto st = write_event(txn, e); !st) return st.error();
        out.push_back(std::move(e));
    }
    if (changed) txn.put(records_, m->id, encode(*m));
    if (auto st = txn.status(); !st) return st.error();
    return out;
}

std::vector<std::string> MessageStore::by_recipient(store::Txn& txn, std::string_view address, int32_t day) {
    std::string prefix = store::KeyBuilder().text0(str::lower(address)).i32(day).take();
    std::vector<std::string> out;
    store::Cursor c(txn, rcpt_day_);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next())
        out.emplace_back(c.key().substr(prefix.size()));
    return out;
}

std::vector<StatsRow> MessageStore::stats(store::Txn& txn, int32_t from_day, int32_t to_day) {
    std::vector<StatsRow> out;
    if (settings_.shared) {
        for (int32_t day = from_day; day <= to_day; ++day) {
            auto t = settings_.shared->totals(day);
            if (!t) {
                txn.fail(Error{"statistics (shared state): " + t.error().what, {}});
                return {};
            }
            std::map<std::string, StatsRow> rows;  // by identity, group, simulated: the local order
            for (const auto& [name, value] : *t) {
                auto f = str::split(name, '\t');
                if (f.size() != 4) continue;
                std::optional<Counter> c;
                for (size_t i = 0; i < kCounters; ++i)
                    if (counter_name(static_cast<Counter>(i)) == f[3]) c = static_cast<Counter>(i);
                if (!c) continue;
                StatsRow& row = rows[std::string(f[0]) + '\0' + std::string(f[1]) + '\0' + std::string(f[2])];
                row.day = day;
                row.identity = f[0];
                row.mailbox_group = f[1];
                row.simulated = f[2] == "1";
                row.counters[*c] = value;
            }
            for (auto& [k, row] : rows) out.push_back(std::move(row));
        }
        return out;
    }
    store::Cursor c(txn, stats_);
    for (bool ok = c.seek(store::KeyBuilder().i32(from_day).take()); ok; ok = c.next()) {
        std::string_view k = c.key();
        StatsRow row;
        row.day = store::i32_unkey(store::get_u32be(k, 0));
        if (row.day > to_day) break;
        std::string_view rest = k.substr(4);
        size_t z1 = rest.find('\0');
        size_t z2 = z1 == std::string_view::npos ? z1 : rest.find('\0', z1 + 1);
        if (z2 == std::string_view::npos || z2 + 1 >= rest.size()) continue;
        row.identity = rest.substr(0, z1);
        row.mailbox_group = rest.substr(z1 + 1, z2 - z1 - 1);
        row.simulated = rest[z2 + 1] != 0;
        row.counters = decode_counters(c.value());
        out.push_back(std::move(row));
    }
    return out;
}

std::vector<Event> MessageStore::events(store::Txn& txn, int64_t since, size_t limit) {
    std::vector<Event> out;
    store::Cursor c(txn, events_);
    for (bool ok = c.seek(store::KeyBuilder().i64(since).take()); ok && out.size() < limit; ok = c.next())
        if (auto e = decode_event(c.key(), c.value())) out.push_back(std::move(*e));
    return out;
}

Result<size_t> MessageStore::purge(store::Txn& txn, int64_t before, size_t limit) {
    size_t n = 0;
    std::vector<std::string> ids;
    {
        store::Cursor c(txn, time_);
        for (bool ok = c.first(); ok && ids.size() < limit; ok = c.next()) {
            if (store::i64_unkey(store::get_u64be(c.key(), 0)) >= before) break;
            ids.emplace_back(c.key().substr(8));
        }
    }
    for (auto& id : ids) {
        if (auto m = get(txn, id)) {
            int32_t day = day_of(m->request_time);
            for (auto& r : m->recipients) txn.del(rcpt_day_, rcpt_key(r.address, day, m->id));
            if (!m->queue_id.empty()) txn.del(qid_, qid_key(m->queue_id, m->request_time));
            txn.del(time_, time_key(m->request_time, m->id));
        } else {
            // Undecodable: drop what can be found from the time index alone.
            store::Cursor c(txn, time_);
            for (bool ok = c.first(); ok; ok = c.next())
                if (c.key().substr(8) == id) {
                    c.del();
                    break;
                }
        }
        txn.del(records_, id);
        ++n;
    }
    {
        // Events older than the retention go with their messages.
        store::Cursor c(txn, events_);
        size_t m = 0;
        for (bool ok = c.first(); ok && m < limit * 4; ok = c.first()) {
            if (store::i64_unkey(store::get_u64be(c.key(), 0)) >= before) break;
            c.del();
            ++m;
        }
    }
    if (auto st = txn.status(); !st) return st.error();
    return n;
}

}  // namespace ses::records
