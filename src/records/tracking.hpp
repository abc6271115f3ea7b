// tracking.hpp -- open/click tracking tokens, the link store, and the pure
// handlers of the public routes /o/TOKEN, /c/TOKEN and /u/TOKEN.
//
// A token names one message (its id), the recipient when the message has
// one (the index into the record's recipients, as in return-path tags), a
// link index (clicks) and what it is for (open, click, unsubscribe).  It is
// authenticated with an HMAC-SHA256 truncated to 64 bits under a numbered
// key ([tracking] keys); the key id is inside the token so that keys rotate
// while old mail keeps working.  Encoding: base64url without padding, 40
// characters, safe in a URL path.  A forged, altered, truncated or
// unknown-key token, or one made for another route, does not decode, and
// then nothing is recorded and no redirect is given: no open redirect, no
// fake events.
//
// The link store keeps the original URL of each rewritten link under the
// raw message id (its first 8 bytes are the request time, so the table is
// in time order) and the link index, for `[tracking] link_days`,
// independently of the record retention: old links keep redirecting after
// their record has gone (the click is then no longer counted).
//
// The handlers take the caller's write transaction and do everything in it:
// the recipient's state, the event (with the user agent as its text), the
// counters and, for an unsubscribe, the suppression list entry.  They are
// pure of I/O: the HTTP layer maps the answers to status codes.
//
// Errors: a refused token is a value (nullopt / false), a store failure a
// Status error.  Thread safety: immutable after open, shared; the functions
// use the caller's transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "records/message_store.hpp"
#include "records/return_path.hpp"
#include "records/suppression.hpp"
#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::records {

enum class TokenKind : uint8_t { open = 1, click = 2, unsubscribe = 3 };

struct Token {
    TokenKind kind = TokenKind::open;
    std::string message_id;
    std::optional<uint16_t> recipient;  // index into the record's recipients
    uint16_t link = 0;                  // clicks: the link's index in the message
};

inline constexpr size_t kTokenChars = 40;

// "" when the keys have no current key or the message id is not one.
std::string make_token(const Token& t, const TagKeys& keys);
std::optional<Token> decode_token(std::string_view token, const TagKeys& keys);

// The mailto: form of an unsubscribe token (List-Unsubscribe
// <mailto:LOCAL@RETURN_PATH_DOMAIN>): "unsub-" and the same bytes in
// lower-case base32 (48 characters; mailbox providers may change the case
// of a local part, and 54 octets fit RFC 5321's 64).  Only for unsubscribe
// tokens naming a recipient; "" otherwise.  Decoding ignores case and
// refuses anything else, as decode_token does.
inline constexpr std::string_view kUnsubscribePrefix = "unsub-";
inline constexpr size_t kUnsubscribeTokenChars = 48;
std::string unsubscribe_local_part(const Token& t, const TagKeys& keys);
std::optional<Token> decode_unsubscribe_local_part(std::string_view local_part, const TagKeys& keys);

struct TrackingSettings {
    TagKeys keys;
    int64_t link_days = 365;
};
// [tracking] keys and link_days (the first key listed is the current one).
TrackingSettings tracking_settings(const config::Config& cfg);

// What the unsubscribe confirmation page shows (GET /u/TOKEN).
struct UnsubscribeTarget {
    std::string message_id;
    std::string address;
    std::string identity;
};

class Tracking {
public:
    // `suppression` may be null (no list: the unsubscribe is still recorded).
    static Result<std::shared_ptr<Tracking>> open(std::shared_ptr<store::Env> env, std::shared_ptr<MessageStore> store,
                                                  std::shared_ptr<SuppressionList> suppression, TrackingSettings s);

    const TrackingSettings& settings() const { return s_; }

    // Stores the original URLs of a message's links (index = position).
    Status put_links(store::Txn& txn, std::string_view message_id, const std::vector<std::string>& urls) const;
    std::optional<std::string> link(store::Txn& txn, std::string_view message_id, uint16_t index) const;
    // Deletes links of messages requested before now - link_days (at most
    // `limit` per call); returns how many went.
    Result<size_t> purge_links(store::Txn& txn, int64_t now, size_t limit) const;

    // GET /o/TOKEN: true when the token is an open token and the event was
    // recorded (or the record is gone); false: refused, nothing recorded.
    // The route answers the pixel either way.
    Result<bool> open(store::Txn& txn, std::string_view token, std::string_view user_agent, int64_t now) const;
    // GET /c/TOKEN: the exact original URL to redirect to, or nullopt
    // (refused token or unknown link: 404, no event).
    Result<std::optional<std::string>> click(store::Txn& txn, std::string_view token, std::string_view user_agent,
                                             int64_t now) const;
    // GET /u/TOKEN: who would be unsubscribed; nullopt: refused (404).
    std::optional<UnsubscribeTarget> unsubscribe_target(store::Txn& txn, std::string_view token) const;
    // POST /u/TOKEN (RFC 8058): records the unsubscribe and suppresses the
    // address (scope per the suppression settings).  True also when it was
    // already done (idempotent); false: refused token or no such record.
    Result<bool> unsubscribe(store::Txn& txn, std::string_view token, std::string_view user_agent, int64_t now) const;
    // The same for a decoded token (the mailto: form, text "mailto").
    Result<bool> unsubscribe(store::Txn& txn, const Token& t, std::string_view text, int64_t now) const;

private:
    Tracking(std::shared_ptr<store::Env> env, std::shared_ptr<MessageStore> store,
             std::shared_ptr<SuppressionList> suppression, TrackingSettings s);
    Result<bool> engage(store::Txn& txn, const Token& t, Outcome::Kind kind, std::string_view user_agent,
                        int64_t now) const;
    std::shared_ptr<store::Env> env_;
    std::shared_ptr<MessageStore> store_;
    std::shared_ptr<SuppressionList> suppression_;
    TrackingSettings s_;
    store::Table links_;
};

}  // namespace ses::records
