// return_path.hpp -- message ids and the authenticated return-path tag.
//
// A message id is 16 bytes: the request time in milliseconds (u64
// big-endian) and 8 random bytes, written as 26 lower-case base32
// characters.  It is unique without coordination between MTAs and
// processes, and says when the message was submitted.
//
// When an identity has a return-path domain (Amazon SES: a custom MAIL FROM
// domain), the envelope sender becomes TAG@return_path_domain.  The tag
// carries the message id, the recipient's index when the message has one
// recipient (DSNs that redact or rewrite the recipient still name it), and
// the sending pool, authenticated with an HMAC-SHA256 truncated to 64 bits
// under a numbered key.  Old keys stay listed so that bounces of mail sent
// before a key rotation keep validating.  The encoding is lower-case base32:
// mailbox providers may change the case of a local part, and it fits the
// 64 octets RFC 5321 allows (46 characters).  A forged, truncated or
// unknown-key tag does not decode.
//
// Errors: decode_tag() gives std::nullopt for anything not made by
// make_tag() with a key still listed.  Pure; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ses::records {

// A new message id for a message requested at `time_ms`.
std::string new_message_id(int64_t time_ms);
// The request time (ms) a message id carries; nullopt when it is not one.
std::optional<int64_t> message_id_time(std::string_view id);

struct TagKeys {
    uint8_t current = 1;                    // the key new tags use (1..15)
    std::map<uint8_t, std::string> secret;  // id -> secret; old ids kept for the bounce window
};

struct Tag {
    std::string message_id;
    std::optional<uint16_t> recipient;  // index into the record's recipients
    uint8_t pool = 0;                   // sending pool number (0: default)
};

inline constexpr uint16_t kNoRecipient = 0xFFFF;
inline constexpr char kTagPrefix = 'b';

std::string make_tag(const Tag& t, const TagKeys& keys);  // "b" + 45 characters
std::optional<Tag> decode_tag(std::string_view local_part, const TagKeys& keys);

}  // namespace ses::records
