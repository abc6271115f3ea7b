// tracking.cpp -- see tracking.hpp.
#include "records/tracking.hpp"

#include "config/keys.hpp"
#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"
#include "util/strings.hpp"

namespace ses::records {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kIdBytes = 16;
constexpr size_t kMacBytes = 8;
constexpr size_t kBodyBytes = 1 + 1 + kIdBytes + 2 + 2;  // version|key, kind, id, recipient, link

std::string mac(std::string_view secret, std::string_view body) {
    // A domain prefix keeps a tracking MAC from ever being a valid
    // return-path MAC should an operator reuse a secret for both.
    std::string in = "sesmilter-tracking\n";
    in.append(body);
    return crypto::hmac_sha256(secret, in).substr(0, kMacBytes);
}

std::optional<std::string> raw_id(std::string_view message_id) {
    auto raw = crypto::base32_decode(message_id);
    if (!raw || raw->size() != kIdBytes) return std::nullopt;
    return raw;
}

std::string link_key(std::string_view raw, uint16_t index) {
    std::string k(raw);
    k.push_back(static_cast<char>(index >> 8));
    k.push_back(static_cast<char>(index & 0xFF));
    return k;
}

// The token's bytes (body and MAC); "" when it cannot be made.
std::string token_bytes(const Token& t, const TagKeys& keys) {
    auto id = raw_id(t.message_id);
    auto key = keys.secret.find(keys.current);
    if (!id || key == keys.secret.end() || keys.current == 0 || keys.current > 15) return {};
    std::string body;
    body.push_back(static_cast<char>(kVersion << 4 | keys.current));
    body.push_back(static_cast<char>(t.kind));
    body += *id;
    uint16_t r = t.recipient.value_or(kNoRecipient);
    body.push_back(static_cast<char>(r >> 8));
    body.push_back(static_cast<char>(r & 0xFF));
    body.push_back(static_cast<char>(t.link >> 8));
    body.push_back(static_cast<char>(t.link & 0xFF));
    body += mac(key->second, body);
    return body;
}

std::optional<Token> decode_bytes(std::string_view raw, const TagKeys& keys) {
    if (raw.size() != kBodyBytes + kMacBytes) return std::nullopt;
    auto byte = [&](size_t i) { return static_cast<uint8_t>(raw[i]); };
    if (byte(0) >> 4 != kVersion) return std::nullopt;
    auto key = keys.secret.find(static_cast<uint8_t>(byte(0) & 0x0F));
    if (key == keys.secret.end()) return std::nullopt;
    std::string_view body = raw.substr(0, kBodyBytes);
    if (!crypto::equal_constant_time(mac(key->second, body), raw.substr(kBodyBytes))) return std::nullopt;
    if (byte(1) < 1 || byte(1) > 3) return std::nullopt;
    Token t;
    t.kind = static_cast<TokenKind>(byte(1));
    t.message_id = str::lower(crypto::base32_encode(body.substr(2, kIdBytes), false));
    uint16_t r = static_cast<uint16_t>(byte(2 + kIdBytes) << 8 | byte(3 + kIdBytes));
    if (r != kNoRecipient) t.recipient = r;
    t.link = static_cast<uint16_t>(byte(4 + kIdBytes) << 8 | byte(5 + kIdBytes));
    return t;
}

}  // namespace

std::string make_token(const Token& t, const TagKeys& keys) {
    std::string raw = token_bytes(t, keys);
    return raw.empty() ? std::string() : crypto::base64url_encode(raw, false);
}

std::optional<Token> decode_token(std::string_view token, const TagKeys& keys) {
    if (token.size() != kTokenChars) return std::nullopt;
    auto raw = crypto::base64url_decode(token);
    if (!raw) return std::nullopt;
    // base64url tolerates non-zero trailing bits; re-encoding makes the
    // accepted spelling unique (an altered last character is refused).
    if (crypto::base64url_encode(*raw, false) != token) return std::nullopt;
    return decode_bytes(*raw, keys);
}

std::string unsubscribe_local_part(const Token& t, const TagKeys& keys) {
    if (t.kind != TokenKind::unsubscribe || !t.recipient) return {};
    std::string raw = token_bytes(t, keys);
    if (raw.empty()) return {};
    return std::string(kUnsubscribePrefix) + str::lower(crypto::base32_encode(raw, false));
}

std::optional<Token> decode_unsubscribe_local_part(std::string_view local_part, const TagKeys& keys) {
    if (local_part.size() != kUnsubscribePrefix.size() + kUnsubscribeTokenChars) return std::nullopt;
    std::string lower = str::lower(local_part);  // mailbox providers may change the case
    if (!lower.starts_with(kUnsubscribePrefix)) return std::nullopt;
    auto raw = crypto::base32_decode(std::string_view(lower).substr(kUnsubscribePrefix.size()));
    if (!raw) return std::nullopt;
    auto t = decode_bytes(*raw, keys);
    if (!t || t->kind != TokenKind::unsubscribe || !t->recipient) return std::nullopt;
    return t;
}

TrackingSettings tracking_settings(const config::Config& cfg) {
    TrackingSettings s;
    for (const auto& k : cfg.tracking_keys) s.keys.secret[static_cast<uint8_t>(k.id)] = k.secret;
    if (!cfg.tracking_keys.empty()) s.keys.current = static_cast<uint8_t>(cfg.tracking_keys.front().id);
    s.link_days = cfg.get(config::key::tracking::link_days);
    return s;
}

Tracking::Tracking(std::shared_ptr<store::Env> env, std::shared_ptr<MessageStore> store,
                   std::shared_ptr<SuppressionList> suppression, TrackingSettings s)
    : env_(std::move(env)),
      store_(std::move(store)),
      suppression_(std::move(suppression)),
      s_(std::move(s)),
      links_(env_->table(store::table::tracking_links)) {}

Result<std::shared_ptr<Tracking>> Tracking::open(std::shared_ptr<store::Env> env, std::shared_ptr<MessageStore> store,
                                                 std::shared_ptr<SuppressionList> suppression, TrackingSettings s) {
    if (!env || !store) return internal_error("tracking: no store");
    return std::shared_ptr<Tracking>(new Tracking(std::move(env), std::move(store), std::move(suppression), s));
}

Status Tracking::put_links(store::Txn& txn, std::string_view message_id, const std::vector<std::string>& urls) const {
    auto raw = raw_id(message_id);
    if (!raw) return internal_error("tracking: not a message id: " + std::string(message_id));
    if (urls.size() > 0xFFFF) return internal_error("tracking: too many links");
    for (size_t i = 0; i < urls.size(); ++i) txn.put(links_, link_key(*raw, static_cast<uint16_t>(i)), urls[i]);
    return txn.status();
}

std::optional<std::string> Tracking::link(store::Txn& txn, std::string_view message_id, uint16_t index) const {
    auto raw = raw_id(message_id);
    if (!raw) return std::nullopt;
    auto v = txn.get(links_, link_key(*raw, index));
    if (!v) return std::nullopt;
    return std::string(*v);
}

Result<size_t> Tracking::purge_links(store::Txn& txn, int64_t now, size_t limit) const {
    const int64_t before_ms = (now - s_.link_days * 86400) * 1000;
    size_t n = 0;
    // Deleting leaves the cursor invalid: seek the (new) first entry again.
    while (n < limit) {
        store::Cursor c(txn, links_);
        if (!c.first() || c.key().size() < 8 || static_cast<int64_t>(store::get_u64be(c.key())) >= before_ms) break;
        if (!c.del()) break;
        ++n;
    }
    if (auto st = txn.status(); !st) return st.error();
    return n;
}

Result<bool> Tracking::engage(store::Txn& txn, const Token& t, Outcome::Kind kind, std::string_view user_agent,
                              int64_t now) const {
    auto rec = store_->get(txn, t.message_id);
    if (!rec) return false;
    std::string address;
    if (t.recipient) {
        if (*t.recipient >= rec->recipients.size()) return false;
        address = rec->recipients[*t.recipient].address;
    }
    Outcome o;
    o.kind = kind;
    o.time = now;
    o.text = std::string(user_agent);
    auto events = store_->apply(txn, t.message_id, address, o);
    if (!events) return events.error();
    if (suppression_)
        for (const Event& e : *events)
            if (auto st = suppression_->note_event(txn, *rec, e); !st) return st.error();
    return true;
}

Result<bool> Tracking::open(store::Txn& txn, std::string_view token, std::string_view user_agent, int64_t now) const {
    auto t = decode_token(token, s_.keys);
    if (!t || t->kind != TokenKind::open) return false;
    auto r = engage(txn, *t, Outcome::Kind::open, user_agent, now);
    if (!r) return r.error();
    return true;  // a purged record is not a forged token
}

Result<std::optional<std::string>> Tracking::click(store::Txn& txn, std::string_view token, std::string_view user_agent,
                                                   int64_t now) const {
    auto t = decode_token(token, s_.keys);
    if (!t || t->kind != TokenKind::click) return std::optional<std::string>();
    auto url = link(txn, t->message_id, t->link);
    if (!url) return std::optional<std::string>();
    if (auto r = engage(txn, *t, Outcome::Kind::click, user_agent, now); !r) return r.error();
    return url;
}

std::optional<UnsubscribeTarget> Tracking::unsubscribe_target(store::Txn& txn, std::string_view token) const {
    auto t = decode_token(token, s_.keys);
    if (!t || t->kind != TokenKind::unsubscribe || !t->recipient) return std::nullopt;
    auto rec = store_->get(txn, t->message_id);
    if (!rec || *t->recipient >= rec->recipients.size()) return std::nullopt;
    return UnsubscribeTarget{rec->id, rec->recipients[*t->recipient].address, rec->identity};
}

Result<bool> Tracking::unsubscribe(store::Txn& txn, std::string_view token, std::string_view user_agent,
                                   int64_t now) const {
    auto t = decode_token(token, s_.keys);
    if (!t) return false;
    return unsubscribe(txn, *t, user_agent, now);
}

Result<bool> Tracking::unsubscribe(store::Txn& txn, const Token& t, std::string_view text, int64_t now) const {
    // Without a recipient an unsubscribe could name nobody: never made.
    if (t.kind != TokenKind::unsubscribe || !t.recipient) return false;
    return engage(txn, t, Outcome::Kind::unsubscribe, text, now);
}

}  // namespace ses::records
