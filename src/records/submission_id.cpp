// submission_id.cpp -- the X-SES-Submission header (see submission_id.hpp).
#include "records/submission_id.hpp"

#include <algorithm>
#include <vector>

#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "records/return_path.hpp"
#include "store/schema.hpp"
#include "util/strings.hpp"

namespace ses::records {
namespace {

constexpr std::string_view kKeyName = "submission_key";
constexpr size_t kKeySize = 32;

std::string mac_hex(std::string_view key, std::string_view id, bool unsubscribe, std::span<const std::string> rcpts) {
    // Sorted and lower-cased: the MTA may pass the recipients in another
    // order or case than the API gave them.
    std::vector<std::string> r;
    r.reserve(rcpts.size());
    for (const auto& a : rcpts) r.push_back(str::lower(a));
    std::sort(r.begin(), r.end());
    std::string data = "v1";
    data += '\0';
    data += id;
    data += '\0';
    data += unsubscribe ? "unsub" : "";
    for (const auto& a : r) {
        data += '\0';
        data += a;
    }
    return crypto::hex_encode(crypto::hmac_sha256(key, data));
}

// The value of `name=` in "v1; id=...; mac=...".
std::optional<std::string_view> field(std::string_view value, std::string_view name) {
    size_t pos = 0;
    while (pos <= value.size()) {
        size_t end = value.find(';', pos);
        if (end == std::string_view::npos) end = value.size();
        std::string_view part = str::trim(value.substr(pos, end - pos));
        if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=')
            return part.substr(name.size() + 1);
        pos = end + 1;
    }
    return std::nullopt;
}

}  // namespace

Result<std::string> submission_key(store::Env& env) {
    store::Table meta = env.table(store::table::meta);
    std::string key;
    Status st = env.view([&](store::Txn& txn) -> Status {
        if (auto v = txn.get(meta, kKeyName)) key.assign(*v);
        return txn.status();
    });
    if (!st) return st.error();
    if (key.size() == kKeySize) return key;
    // Two processes may race here: the first writer wins, the second reads
    // its key back.
    st = env.update([&](store::Txn& txn) -> Status {
        if (auto v = txn.get(meta, kKeyName); v && v->size() == kKeySize) {
            key.assign(*v);
            return txn.status();
        }
        key = crypto::random_bytes(kKeySize);
        txn.put(meta, kKeyName, key);
        return txn.status();
    });
    if (!st) return st.error();
    return key;
}

std::string make_submission(std::string_view key, std::string_view id, std::span<const std::string> rcpts,
                            bool unsubscribe) {
    return "v1; id=" + std::string(id) + (unsubscribe ? "; unsub=1" : "") +
           "; mac=" + mac_hex(key, id, unsubscribe, rcpts);
}

std::optional<Submission> check_submission(std::string_view key, std::string_view value,
                                           std::span<const std::string> rcpts) {
    std::string_view v = str::trim(value);
    if (v.substr(0, 2) != "v1") return std::nullopt;
    auto id = field(v, "id");
    auto mac = field(v, "mac");
    if (!id || !mac || !message_id_time(*id)) return std::nullopt;
    auto unsub = field(v, "unsub");
    if (unsub && *unsub != "1") return std::nullopt;
    if (!crypto::equal_constant_time(str::lower(*mac), mac_hex(key, *id, unsub.has_value(), rcpts)))
        return std::nullopt;
    return Submission{std::string(*id), unsub.has_value()};
}

}  // namespace ses::records
