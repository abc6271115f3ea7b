// return_path.hpp -- the authenticated return path in the message flow.
//
// Outbound: an identity with a `return_path_domain` has its envelope sender
// replaced by TAG@return_path_domain (records/return_path.hpp), so that
// bounces and complaints come back to this MTA naming the message and,
// for a one-recipient message, the recipient.
//
// Inbound: a message whose every recipient is at a return-path domain is
// feedback.  Each recipient's tag names a message record; the message is
// read as a DSN, an ARF complaint or an auto-reply (mail/feedback.hpp), the
// outcome goes through MessageStore::apply (one transaction, with the
// warm-up feedback hook; an auto-reply only adds an `auto_reply` event for
// the recipient its tag names), and the message is consumed (Verdict discard):
// feedback is never delivered anywhere.  A return-path recipient whose tag
// does not decode is refused at RCPT (550 5.1.1), except fbl@, the
// CFBL-Address: an ARF complaint to it is attributed by the original's
// X-SES-Message-ID or CFBL-Feedback-ID (other reports to it are consumed
// and not counted), and unsub-TOKEN@, the mailto: form of List-Unsubscribe:
// any message to it unsubscribes the recipient its token names, as the
// one-click POST does (records::Tracking::unsubscribe); mixing return-path and
// other recipients in one transaction is deferred at RCPT (452 4.5.3).
//
// Postfix's own bounces for mail it relayed are not counted twice: the log
// follower has already moved the recipient to a final state, and apply()
// changes nothing for a recipient in a final state.
//
// Errors: a store failure comes back as an internal Error (on_error).
// Thread safety: ReturnPathRules is immutable after from(); the functions
// are reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.hpp"
#include "mail/message.hpp"
#include "records/return_path.hpp"
#include "records/tracking.hpp"
#include "util/result.hpp"

namespace ses::milter {

struct Runtime;

// The local part of the complaint feedback loop address (RFC 9477
// CFBL-Address: fbl@return_path_domain), accepted beside the tags.
inline constexpr std::string_view kFblLocalPart = "fbl";

struct ReturnPathRules {
    records::TagKeys keys;
    std::unordered_map<std::string, std::string> by_identity;  // identity -> return-path domain
    std::unordered_set<std::string> domains;                   // every return-path domain (lower case)

    static ReturnPathRules from(const config::Config& cfg);
    bool enabled() const { return !domains.empty(); }
    bool is_return_path(std::string_view address) const;  // its domain is a return-path domain
    bool is_fbl(std::string_view address) const;          // fbl@ a return-path domain
    std::optional<records::Tag> decode(std::string_view address) const;

    // The mailto: unsubscribe address (records/tracking.hpp), authenticated
    // by the tracking keys: the token of an address at a return-path domain.
    records::TagKeys tracking_keys;
    std::optional<records::Token> decode_unsubscribe(std::string_view address) const;
    // unsub-TOKEN@ the identity's return-path domain for the one recipient of
    // `message_id`; "" without a return-path domain or tracking keys.
    std::string unsubscribe_address(std::string_view identity, const std::string& message_id) const;
};

// The RCPT check: nullopt when the recipient may be added to a transaction
// that already has `earlier` recipients.
std::optional<Reply> check_recipient(const ReturnPathRules& rules, const std::vector<std::string>& earlier,
                                     std::string_view rcpt);

// The new envelope sender for a recorded message of `identity`, or "" when
// the identity has no return-path domain.
std::string tagged_sender(const ReturnPathRules& rules, std::string_view identity, const std::string& message_id,
                          size_t recipients);

// Every recipient is at a return-path domain.
bool is_feedback(const ReturnPathRules& rules, const mail::Message& msg);

// Reads the feedback and applies it to the records its tags name.
Status consume_feedback(const mail::Message& msg, const Runtime& rt, std::string& log);

}  // namespace ses::milter
