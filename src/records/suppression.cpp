// suppression.cpp -- see suppression.hpp.
#include "records/suppression.hpp"

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/strings.hpp"

namespace ses::records {
namespace {

constexpr uint8_t kV1 = 1;

std::string key_of(std::string_view address, std::string_view scope) {
    return store::KeyBuilder().text0(address).text(scope).take();
}

std::string encode_entry(const SuppressionEntry& e) {
    store::Writer w;
    w.u8(kV1).u8(static_cast<uint8_t>(e.reason)).i64(e.time).str(e.source).i64(e.expires);
    return w.take();
}

// `key` is address + NUL + scope.
std::optional<SuppressionEntry> decode_entry(std::string_view key, std::string_view v) {
    size_t z = key.find('\0');
    if (z == std::string_view::npos) return std::nullopt;
    store::Reader r(v);
    if (r.u8() != kV1) return std::nullopt;
    SuppressionEntry e;
    e.address = key.substr(0, z);
    e.scope = key.substr(z + 1);
    uint8_t reason = r.u8();
    e.time = r.i64();
    e.source = r.str();
    e.expires = r.i64();
    if (!r.good() || reason < 1 || reason > 4) return std::nullopt;
    e.reason = static_cast<SuppressionReason>(reason);
    return e;
}

// The unexpired entry among `entries` (address + NUL + scope, in key
// order) that applies to `scope`: the global one sorts first.
template <class Entries>
std::optional<SuppressionEntry> pick(const Entries& entries, size_t prefix, std::string_view scope, int64_t now) {
    for (const auto& [k, v] : entries) {
        std::string_view s = std::string_view(k).substr(prefix);
        if (!s.empty() && s != scope) continue;
        auto e = decode_entry(k, v);
        if (e && !e->expired(now)) return e;
    }
    return std::nullopt;
}

// An address has one entry per scope: a few at most.
constexpr size_t kScopesPerAddress = 1000;
// list() reads the whole list (Redis takes no unbounded LIMIT).
constexpr size_t kWholeList = 100'000'000;

void fail_shared(store::Txn& txn, const Error& e) { txn.fail(Error{"suppression list (shared state): " + e.what, {}}); }

}  // namespace

std::string_view reason_name(SuppressionReason r) {
    switch (r) {
        case SuppressionReason::hard_bounce:
            return "hard_bounce";
        case SuppressionReason::complaint:
            return "complaint";
        case SuppressionReason::unsubscribe:
            return "unsubscribe";
        case SuppressionReason::manual:
            return "manual";
    }
    return "?";
}

std::optional<SuppressionReason> parse_reason(std::string_view text) {
    for (auto r : {SuppressionReason::hard_bounce, SuppressionReason::complaint, SuppressionReason::unsubscribe,
                   SuppressionReason::manual})
        if (text == reason_name(r)) return r;
    return std::nullopt;
}

std::string normalize_address(std::string_view address) {
    std::string a = str::lower(str::trim(address));
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    size_t at = a.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == a.size()) return {};
    for (char c : a)
        if (static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == ',') return {};
    if (a.back() == '.') a.pop_back();  // a trailing root dot names the same domain
    return a;
}

SuppressionList::SuppressionList(std::shared_ptr<store::Env> env, SuppressionSettings s,
                                 std::shared_ptr<store::SharedState> shared)
    : env_(std::move(env)), s_(s), shared_(std::move(shared)) {
    table_ = env_->table(store::table::suppression);
}

Result<std::shared_ptr<SuppressionList>> SuppressionList::open(std::shared_ptr<store::Env> env, SuppressionSettings s,
                                                               std::shared_ptr<store::SharedState> shared) {
    if (!env) return internal_error("suppression list: no store");
    return std::shared_ptr<SuppressionList>(new SuppressionList(std::move(env), s, std::move(shared)));
}

std::optional<SuppressionEntry> SuppressionList::find(store::Txn& txn, std::string_view address,
                                                      std::string_view identity, int64_t now) const {
    std::string a = normalize_address(address);
    if (a.empty()) return std::nullopt;
    std::string prefix = key_of(a, "");
    std::string scope = str::lower(identity);
    if (shared_) {
        auto entries = shared_->suppression_list(prefix, kScopesPerAddress);
        if (!entries) {
            fail_shared(txn, entries.error());
            return std::nullopt;
        }
        return pick(*entries, prefix.size(), scope, now);
    }
    store::Cursor c(txn, table_);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) {
        std::string_view s = c.key().substr(prefix.size());
        if (!s.empty() && s != scope) continue;
        auto e = decode_entry(c.key(), c.value());
        if (e && !e->expired(now)) return e;
    }
    return std::nullopt;
}

Status SuppressionList::put(store::Txn& txn, SuppressionEntry e) const {
    std::string a = normalize_address(e.address);
    if (a.empty()) return internal_error("not an address: " + e.address);
    e.address = a;
    e.scope = str::lower(e.scope);
    std::string key = key_of(e.address, e.scope), value = encode_entry(e);
    if (shared_)
        if (auto st = shared_->suppression_put(key, value); !st) fail_shared(txn, st.error());
    txn.put(table_, key, value);
    return txn.status();
}

size_t SuppressionList::remove(store::Txn& txn, std::string_view address,
                               const std::optional<std::string>& scope) const {
    std::string a = normalize_address(address);
    if (a.empty()) return 0;
    size_t removed_shared = 0;
    if (shared_) {
        std::vector<std::string> keys;
        if (scope) {
            keys.push_back(key_of(a, str::lower(*scope)));
        } else {
            auto entries = shared_->suppression_list(key_of(a, ""), kScopesPerAddress);
            if (!entries) {
                fail_shared(txn, entries.error());
                return 0;
            }
            for (auto& [k, v] : *entries) keys.push_back(k);
        }
        for (const auto& k : keys) {
            auto gone = shared_->suppression_del(k);
            if (!gone) {
                fail_shared(txn, gone.error());
                return 0;
            }
            removed_shared += *gone ? 1 : 0;
        }
    }
    // This host's copy goes too; the shared store's count is the answer.
    if (scope) {
        bool gone = txn.del(table_, key_of(a, str::lower(*scope)));
        return shared_ ? removed_shared : (gone ? 1 : 0);
    }
    std::string prefix = key_of(a, "");
    size_t n = 0;
    store::Cursor c(txn, table_);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix;) {
        if (!c.del()) break;
        ++n;
        ok = c.seek(prefix);
    }
    return shared_ ? removed_shared : n;
}

std::vector<SuppressionEntry> SuppressionList::list(store::Txn& txn) const {
    std::vector<SuppressionEntry> out;
    if (shared_) {
        auto entries = shared_->suppression_list("", kWholeList);
        if (!entries) {
            fail_shared(txn, entries.error());
            return out;
        }
        for (const auto& [k, v] : *entries)
            if (auto e = decode_entry(k, v)) out.push_back(std::move(*e));
        return out;
    }
    store::Cursor c(txn, table_);
    for (bool ok = c.first(); ok; ok = c.next())
        if (auto e = decode_entry(c.key(), c.value())) out.push_back(std::move(*e));
    return out;
}

Status SuppressionList::note_event(store::Txn& txn, const MessageRecord& rec, const Event& e) const {
    if (rec.simulated || e.simulated) return ok_status();
    SuppressionEntry s;
    int64_t expiry = 0;
    if (e.type == EventType::bounce && e.bounce == BounceType::hard) {
        s.reason = SuppressionReason::hard_bounce;
        expiry = s_.hard_bounce_expiry;
    } else if (e.type == EventType::spamreport) {
        s.reason = SuppressionReason::complaint;
        expiry = s_.complaint_expiry;
    } else if (e.type == EventType::unsubscribe) {
        s.reason = SuppressionReason::unsubscribe;
    } else {
        return ok_status();
    }
    s.address = e.recipient;
    s.scope = s_.per_identity ? rec.identity : std::string();
    s.time = e.time;
    s.source = rec.id;
    s.expires = expiry ? e.time + expiry : 0;
    if (normalize_address(s.address).empty()) return ok_status();  // nothing a later RCPT could match
    return put(txn, std::move(s));
}

}  // namespace ses::records
