// feedback.hpp -- what a message that came back to the return path says:
// a delivery status notification, a complaint, an auto-reply, or nothing.
//
// Mail to the return-path domain is either
//   - a DSN (RFC 3464: multipart/report; report-type=delivery-status): per
//     recipient an Action (failed = bounce, delayed = still trying,
//     delivered/relayed/expanded = not a problem), a Status (5.1.1) and a
//     Diagnostic-Code;
//   - an ARF complaint (RFC 5965: multipart/report;
//     report-type=feedback-report), whose recipient is often redacted: the
//     message is attributed by the original's X-SES-Message-ID or Message-ID
//     (and the return-path tag the caller already has);
//   - a non-standard bounce, as some large providers and old MTAs send: a
//     text that names the recipient and an SMTP reply ("550 5.1.1
//     <bob@example.net>: user unknown"); recognised only when the message
//     also looks like a bounce (null sender or a mailer-daemon From, and a
//     bounce-like Subject), so that a person's reply is never taken for one.
//     Its text is kept (Feedback::text) so that the caller, which knows the
//     message's recipients, can find the ones the text names with their
//     reply (named_recipients(): qmail's "<addr>:" paragraphs, Exim's
//     indented address followed by "550 ..." lines), whether or not the
//     reply line repeats the address;
//   - an auto-reply (RFC 3834 Auto-Submitted: auto-replied, the common
//     X-Autoreply / X-Autorespond headers, "Out of office" subjects), which is
//     never a bounce.
// The original message's headers (message/rfc822 or text/rfc822-headers)
// give X-SES-Message-ID, CFBL-Feedback-ID and Message-ID.
//
// Parsing uses GMime throughout (MIME structure, header field groups); it
// never throws and never fails: what it cannot read is Kind::none.
// Thread safety: reentrant (mail::init() must have run).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ses::mail {

struct FeedbackRecipient {
    std::string address;     // Final-Recipient (or the one named in a plain-text bounce)
    std::string original;    // Original-Recipient, when given
    std::string action;      // failed | delayed | delivered | relayed | expanded (lower case)
    std::string status;      // "5.1.1"
    std::string diagnostic;  // Diagnostic-Code text (without its "smtp;" type)
};

struct Feedback {
    enum class Kind { none, dsn, complaint, auto_reply };
    Kind kind = Kind::none;
    bool standard = false;  // a multipart/report, not a heuristic match
    std::vector<FeedbackRecipient> recipients;
    std::string reporting_mta;        // Reporting-MTA (DSN) / Reporting-MTA or User-Agent (ARF)
    std::string feedback_type;        // ARF Feedback-Type ("abuse", ...)
    std::string ses_message_id;       // the original's X-SES-Message-ID
    std::string cfbl_feedback_id;     // the original's CFBL-Feedback-ID (RFC 9477)
    std::string original_message_id;  // the original's Message-ID (without <>)
    std::string text;  // a non-standard bounce: its explanation, up to the returned copy (at most 64 KiB)
};

std::string_view feedback_kind_name(Feedback::Kind k);

// `raw` is a whole message: header fields, a blank line, the body (CRLF or
// LF).  `null_sender`: it came with MAIL FROM:<> (as bounces do).
Feedback parse_feedback(std::string_view raw, bool null_sender = false);

// The addresses of `candidates` (a message's recipients) that a
// non-standard bounce's text names together with an SMTP reply: the reply
// on the line naming the address or on a later line of the same paragraph
// before another candidate is named.  One entry per address named, with
// action failed (5xx / 5.x.x) or delayed (4xx), the status and the reply
// line; the address is spelled as in `candidates`.  The returned copy of
// the message (its To: names every recipient) is not part of `text`.
std::vector<FeedbackRecipient> named_recipients(std::string_view text, const std::vector<std::string>& candidates);

}  // namespace ses::mail
