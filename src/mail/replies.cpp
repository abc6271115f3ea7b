// replies.cpp -- see replies.hpp.
#include "mail/replies.hpp"

#include <cstdlib>
#include <sstream>

namespace ses::mail {
namespace {

const std::vector<ReplySpec> kTable = {
    {ReplyReason::internal_failure, "internal_failure", "451", "4.3.0",
     "temporary failure in sesmilter, try again later",
     "sesmilter failed internally (a key cannot sign, the store fails, ...) and `milter.on_error` is "
     "`tempfail`: the client keeps the message and retries."},
    {ReplyReason::message_too_large, "message_too_large", "552", "5.3.4",
     "message size exceeds fixed maximum message size of {} bytes",
     "The message (header lines, the blank line and the body) is larger than `milter.max_message_size`; "
     "answered as soon as the limit is passed."},
    {ReplyReason::malformed_message, "malformed_message", "554", "5.6.0", "malformed message: {}",
     "The header block breaks a rule sesmilter needs to sign safely (not exactly one From:, ...)."},
    {ReplyReason::long_line, "long_line", "554", "5.6.0",
     "message has a line longer than 998 octets {}; it would be broken in transit (re-encode it, e.g. "
     "quoted-printable)",
     "A body line over 998 octets (which Postfix would fold after signing) where re-encoding is not allowed "
     "(an attachment, multipart/signed, a preamble) or `dkim.long_lines = \"reject\"` (docs/signing.md)."},
    {ReplyReason::template_failed, "template_failed", "554", "5.6.0", "Template {}",
     "A message naming a template (`X-SES-Template`) could not be rendered: unknown template, bad data, "
     "too large."},
    {ReplyReason::identity_refused, "identity_refused", "550", "5.7.1", "{}",
     "The message may not be sent as the identity it names: domain not configured, user not allowed, "
     "identity not verified, From: not aligned with the signing domain."},
    {ReplyReason::dmarc_reject, "dmarc_reject", "550", "5.7.1", "message rejected by the DMARC policy of {}",
     "Inbound mail failing DMARC whose domain publishes p=reject, with `verify.dmarc_reject` on."},
    {ReplyReason::dns_temporary, "dns_temporary", "451", "4.4.3", "DNS lookup failed for {}; try again later",
     "Inbound mail whose SPF, DKIM or DMARC lookup failed temporarily, with `verify.tempfail_on_dns_error` on."},
    {ReplyReason::warmup_no_queue_id, "warmup_no_queue_id", "451", "4.7.1",
     "Daily sending quota reached, try again later",
     "Warm-up would hold the message but the MTA gave no queue id to release it by: the client retries."},
    {ReplyReason::shutting_down, "shutting_down", "421", "4.3.2", "sesmilter is shutting down, try again later",
     "A stop (SIGTERM) is draining the messages in progress; a new transaction is refused and the client "
     "retries (Postfix answers it at RCPT when it does not wait on MAIL FROM)."},
    {ReplyReason::return_path_unknown, "return_path_unknown", "550", "5.1.1", "no such return-path address {}",
     "A recipient at a `return_path_domain` whose tag does not decode with the `[return_path] keys` "
     "(forged, truncated, signed with a retired key): refused at RCPT; feedback is never delivered anywhere."},
    {ReplyReason::return_path_mixed, "return_path_mixed", "452", "4.5.3",
     "return-path and other recipients in one message; send them separately",
     "A transaction mixes return-path addresses with other recipients: the later recipient is deferred at "
     "RCPT, so the client sends it in a transaction of its own (feedback is consumed, other mail delivered)."},
    {ReplyReason::one_recipient, "one_recipient", "452", "4.5.3",
     "one recipient per message for this sender, send the others separately",
     "The envelope sender's identity sets `one_recipient_per_message`: each RCPT after the first in a "
     "transaction is deferred, and the client (RFC 5321 section 3.3) sends it in a later transaction."},
};

// One printable line: control characters (CR, LF, TAB, ...) become spaces,
// bytes past ASCII '?', and the length is capped.
std::string flatten(std::string_view s, size_t max = 400) {
    std::string r;
    for (unsigned char c : s) {
        if (r.size() >= max) {
            r += "...";
            break;
        }
        r += c < 0x20 ? ' ' : c >= 0x7f ? '?' : static_cast<char>(c);
    }
    return r;
}

}  // namespace

const std::vector<ReplySpec>& reply_table() { return kTable; }

const ReplySpec& reply_spec(ReplyReason r) {
    for (auto& s : kTable)
        if (s.reason == r) return s;
    std::abort();  // a reason without a row is a programming error
}

Reply make_reply(ReplyReason r, std::string_view detail) {
    const ReplySpec& s = reply_spec(r);
    std::string text = s.text;
    if (auto p = text.find("{}"); p != std::string::npos) text.replace(p, 2, flatten(detail));
    return Reply{s.code, s.xcode, std::move(text)};
}

Error error_for(ReplyReason r, std::string_view detail, std::string what) {
    Reply rep = make_reply(r, detail);
    if (what.empty()) what = rep.text;
    return Error{std::move(what), std::move(rep)};
}

std::string replies_markdown() {
    std::ostringstream o;
    o << "# SMTP replies\n\n"
         "<!-- Generated by `sesmilter --replies-reference` from src/mail/replies.cpp; "
         "edit the table there, then run `make docs`. -->\n\n"
         "Every reply sesmilter gives a client, by reason. `{}` stands for the details of one message. "
         "A Lua warm-up policy may choose its own replies; they are not listed here.\n\n"
         "| Reason | Code | Enhanced | Text | When |\n"
         "|---|---|---|---|---|\n";
    for (auto& s : kTable)
        o << "| `" << s.name << "` | " << s.code << " | " << s.xcode << " | " << s.text << " | " << s.when << " |\n";
    return o.str();
}

}  // namespace ses::mail
