// return_path.cpp -- see return_path.hpp.
#include "records/return_path.hpp"

#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "store/codec.hpp"
#include "util/strings.hpp"

namespace ses::records {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kIdBytes = 16;
constexpr size_t kMacBytes = 8;
constexpr size_t kBodyBytes = 1 + kIdBytes + 2 + 1;  // version|key, id, recipient, pool

std::string mac(std::string_view secret, std::string_view body) {
    return crypto::hmac_sha256(secret, body).substr(0, kMacBytes);
}

}  // namespace

std::string new_message_id(int64_t time_ms) {
    std::string raw;
    store::put_u64be(raw, static_cast<uint64_t>(time_ms));
    raw += crypto::random_bytes(kIdBytes - 8);
    return str::lower(crypto::base32_encode(raw, false));
}

std::optional<int64_t> message_id_time(std::string_view id) {
    auto raw = crypto::base32_decode(id);
    if (!raw || raw->size() != kIdBytes) return std::nullopt;
    return static_cast<int64_t>(store::get_u64be(*raw));
}

std::string make_tag(const Tag& t, const TagKeys& keys) {
    auto id = crypto::base32_decode(t.message_id);
    auto key = keys.secret.find(keys.current);
    if (!id || id->size() != kIdBytes || key == keys.secret.end() || keys.current == 0 || keys.current > 15) return {};
    std::string body;
    body.push_back(static_cast<char>(kVersion << 4 | keys.current));
    body += *id;
    uint16_t r = t.recipient.value_or(kNoRecipient);
    body.push_back(static_cast<char>(r >> 8));
    body.push_back(static_cast<char>(r & 0xFF));
    body.push_back(static_cast<char>(t.pool));
    body += mac(key->second, body);
    return kTagPrefix + str::lower(crypto::base32_encode(body, false));
}

std::optional<Tag> decode_tag(std::string_view local, const TagKeys& keys) {
    if (local.size() < 2 || (local[0] != kTagPrefix && local[0] != (kTagPrefix - 'a' + 'A'))) return std::nullopt;
    auto raw = crypto::base32_decode(local.substr(1));
    if (!raw || raw->size() != kBodyBytes + kMacBytes) return std::nullopt;
    uint8_t head = static_cast<uint8_t>((*raw)[0]);
    if (head >> 4 != kVersion) return std::nullopt;
    auto key = keys.secret.find(static_cast<uint8_t>(head & 0x0F));
    if (key == keys.secret.end()) return std::nullopt;
    std::string_view body = std::string_view(*raw).substr(0, kBodyBytes);
    if (!crypto::equal_constant_time(mac(key->second, body), std::string_view(*raw).substr(kBodyBytes)))
        return std::nullopt;
    Tag t;
    t.message_id = str::lower(crypto::base32_encode(body.substr(1, kIdBytes), false));
    uint16_t r =
        static_cast<uint16_t>(static_cast<uint8_t>(body[1 + kIdBytes]) << 8 | static_cast<uint8_t>(body[2 + kIdBytes]));
    if (r != kNoRecipient) t.recipient = r;
    t.pool = static_cast<uint8_t>(body[3 + kIdBytes]);
    return t;
}

}  // namespace ses::records
