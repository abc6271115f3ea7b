// apikeys.cpp -- see apikeys.hpp.
#include "records/apikeys.hpp"

#include <cctype>

#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"

namespace ses::records {
namespace {

// Compares every byte so the time taken does not tell how much matched.
bool same_hash(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

ApiKeyInfo decode(std::string_view name, std::string_view v) {
    ApiKeyInfo k{std::string(name), store::i64_unkey(store::get_u64be(v, 32)), {}};
    std::string_view rest = v.size() > 40 ? v.substr(40) : std::string_view();
    while (!rest.empty()) {
        size_t nl = rest.find('\n');
        k.identities.emplace_back(rest.substr(0, nl));
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
    return k;
}

}  // namespace

bool valid_api_key_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

Result<std::string> ApiKeys::create(const std::string& name, int64_t now, const std::vector<std::string>& identities) {
    if (!valid_api_key_name(name))
        return Error{"API key name must be 1 to 64 letters, digits, '-', '_' or '.': " + name, {}};
    // 32 random bytes: guessing is out of the question, so one hash suffices.
    std::string key = "ses_" + crypto::hex_encode(crypto::random_bytes(32));
    std::string value = crypto::sha256(key);
    store::put_u64be(value, store::i64_key(now));
    for (size_t i = 0; i < identities.size(); ++i) {
        if (identities[i].empty() || identities[i].find_first_of(std::string_view("\n\r\0 ", 4)) != std::string::npos)
            return Error{"not an identity (a domain): '" + identities[i] + "'", {}};
        value += (i ? "\n" : "") + identities[i];
    }
    auto t = env_->table(store::table::api_keys);
    Status st = env_->update([&](store::Txn& txn) -> Status {
        if (txn.get(t, name)) {
            return Error{"an API key named " + name + " exists (revoke it first)", {}};
        }
        txn.put(t, name, value);
        return txn.status();
    });
    if (!st) return st.error();
    return key;
}

Result<std::vector<ApiKeyInfo>> ApiKeys::list() const {
    std::vector<ApiKeyInfo> out;
    auto t = env_->table(store::table::api_keys);
    Status st = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, t);
        for (bool ok = c.first(); ok; ok = c.next()) out.push_back(decode(c.key(), c.value()));
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

Status ApiKeys::revoke(const std::string& name) {
    auto t = env_->table(store::table::api_keys);
    return env_->update([&](store::Txn& txn) -> Status {
        if (!txn.del(t, name)) {
            if (!txn.status()) return txn.status();
            return Error{"no API key named " + name, {}};
        }
        return txn.status();
    });
}

Result<std::string> ApiKeys::check(std::string_view key) const {
    std::string hash = crypto::sha256(key);
    std::string found;
    auto t = env_->table(store::table::api_keys);
    Status st = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, t);
        for (bool ok = c.first(); ok; ok = c.next())
            if (c.value().size() >= 32 && same_hash(c.value().substr(0, 32), hash)) found = std::string(c.key());
        return txn.status();
    });
    if (!st) return st.error();
    return found;
}

}  // namespace ses::records

namespace ses::records {

Result<std::optional<ApiKeyInfo>> ApiKeys::info(std::string_view name) const {
    std::optional<ApiKeyInfo> out;
    auto t = env_->table(store::table::api_keys);
    Status st = env_->view([&](store::Txn& txn) -> Status {
        if (auto v = txn.get(t, name); v && v->size() >= 40) out = decode(name, *v);
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

}  // namespace ses::records
