// replies.hpp -- every SMTP reply sesmilter gives, in one table.
//
// A reason names why a message is refused or deferred; the table gives its
// reply code, enhanced status code (RFC 3463) and text.  A text holds at
// most one "{}", replaced by the details of one message (a domain, a
// limit, a parse error).  make_reply() is the only way stages build a
// reply, so the codes in docs/replies.md (generated from this table by
// `sesmilter --replies-reference`) are the codes clients see.  Replies
// chosen by a Lua policy (warm-up) are the policy's own and not listed.
// Errors: none (a detail with CR/LF or control characters is flattened to
// one printable line).  Thread safety: immutable table, pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ses::mail {

enum class ReplyReason {
    internal_failure,     // on_error = tempfail
    message_too_large,    // max_message_size
    malformed_message,    // header checks
    long_line,            // a body line over 998 octets that cannot be re-encoded
    template_failed,      // X-SES-Template could not be rendered
    identity_refused,     // not allowed to send as this identity
    dmarc_reject,         // inbound: DMARC policy reject
    dns_temporary,        // inbound: a DNS lookup failed
    warmup_no_queue_id,   // warm-up would hold, but the MTA gave no queue id
    shutting_down,        // a stop is draining: no new transaction
    return_path_unknown,  // a return-path address whose tag does not decode (forged, unknown key)
    return_path_mixed,    // return-path and other recipients in one transaction
    one_recipient,        // the sender's identity has one_recipient_per_message
};

struct ReplySpec {
    ReplyReason reason;
    const char* name;   // stable, for docs and tests: "message_too_large"
    const char* code;   // "552"
    const char* xcode;  // "5.3.4"
    const char* text;   // "message size exceeds ... of {} bytes"
    const char* when;   // one sentence for docs/replies.md
};

const std::vector<ReplySpec>& reply_table();
const ReplySpec& reply_spec(ReplyReason r);

// The reply for `r` with "{}" replaced by `detail` (made one printable line).
Reply make_reply(ReplyReason r, std::string_view detail = {});

// An Error carrying that reply; `what` is the log text (default: the reply text).
Error error_for(ReplyReason r, std::string_view detail = {}, std::string what = {});

// docs/replies.md.
std::string replies_markdown();

}  // namespace ses::mail
