// submission_id.hpp -- the header that lets sesmilter's own submissions
// (the sending API, tasks) name their message id.
//
// A milter cannot put its id into the MTA's 250 reply, so the API assigns
// the message id itself and submits the message with
//   X-SES-Submission: v1; id=ID[; unsub=1]; mac=HEX
// where mac is HMAC-SHA256 under a per-store secret over the id, the flags
// and the envelope recipients.  `unsub=1` asks for the List-Unsubscribe
// fields of docs/tracking.md on this message even when its identity does
// not add them to all its mail (the API's `Unsubscribe` field).  The milter keeps ID as the record's id when the
// MAC verifies for the transaction's recipients, and removes the header
// either way: an outside client cannot forge one, and one copied from a
// delivered message does not fit another recipient list.
//
// The secret is 32 random bytes kept in the store (`meta`,
// `submission_key`), made on first use: the API and the milter of one host
// share it without configuration, and it survives restarts (a message
// submitted just before one is still recognised).
//
// Errors: store failures come back as Error; a header that does not verify
// is std::nullopt.  Pure apart from submission_key(); thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::records {

inline constexpr std::string_view kSubmissionHeader = "X-SES-Submission";

// The store's submission secret, made (in its own write transaction) when
// absent.
Result<std::string> submission_key(store::Env& env);

struct Submission {
    std::string id;            // the message id the API assigned
    bool unsubscribe = false;  // add the List-Unsubscribe fields
};

// The header value for message ID sent to RCPTS (order and case of the
// addresses do not matter).
std::string make_submission(std::string_view key, std::string_view id, std::span<const std::string> rcpts,
                            bool unsubscribe = false);

// What VALUE says when its MAC verifies for RCPTS and the id is a
// well-formed message id; std::nullopt otherwise.
std::optional<Submission> check_submission(std::string_view key, std::string_view value,
                                           std::span<const std::string> rcpts);

}  // namespace ses::records
