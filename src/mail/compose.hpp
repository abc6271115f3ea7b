// compose.hpp -- build an RFC 5322 message from the parts of a sending-API
// request (services/send_api.hpp).
//
// compose() writes From, To, Cc, Reply-To, Subject (RFC 2047, UTF-8, when
// not ASCII), Date, Message-ID and MIME-Version, then the body:
//   - text only or HTML only: one text/plain or text/html part;
//   - both: multipart/alternative (text first, as RFC 2046 orders them);
//   - with attachments: multipart/mixed, the text first, then one base64
//     part per attachment, its Content-Type from the file name;
//   - with a template: X-SES-Template / X-SES-Template-Data headers and an
//     empty text part that the milter's template stage replaces (it keeps
//     attachments, template/stage.hpp).
// Text parts are UTF-8, quoted-printable (no line over 76 characters, so
// nothing on the way folds a line under the DKIM body hash).  Extra
// headers (the request's SmtpHeaders) are added after checking them with
// refused_header().  Every line ends CRLF.
//
// Errors: a part or header that cannot be written (bad UTF-8 in a text
// part, a header GMime refuses) is an Error whose `what` names the field.
// Pure apart from GMime's one-time init (mail::init()); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ses::mail {

struct Attachment {
    std::string file_name;
    std::string content;  // the decoded bytes
};

struct Composition {
    std::string from;                   // From: value, "Name <a@b>" or "a@b"
    std::vector<std::string> to;        // addr-specs
    std::vector<std::string> cc;        // addr-specs
    std::vector<std::string> reply_to;  // addr-specs
    std::string subject;                // UTF-8
    std::optional<std::string> html;    // UTF-8
    std::optional<std::string> text;    // UTF-8
    std::string template_name;          // X-SES-Template when not empty
    std::string template_data;          // X-SES-Template-Data (a JSON object's text)
    std::vector<Attachment> attachments;
    std::vector<std::pair<std::string, std::string>> headers;  // extra, in order
    std::string message_id;                                    // without angle brackets: "ID@host"
    int64_t date = 0;                                          // seconds since the epoch (Date: in UTC)
};

Result<std::string> compose(const Composition& c);

// Why an extra header NAME: VALUE may not be set by a client ("" when it
// may): headers compose() writes itself, headers that would break signing
// or delivery (DKIM-Signature, ARC-*, Received, Return-Path, Content-*),
// sesmilter's own (X-SES-*), a name that is not RFC 5322 ftext, a value
// with CR, LF or NUL or over 998 bytes.
std::string refused_header(std::string_view name, std::string_view value);

// "application/pdf" for "report.PDF"; application/octet-stream when unknown.
std::string content_type_for(std::string_view file_name);

// A plain addr-spec "local@domain.tld": one '@', a dot-atom local
// part (quoted ones are refused), a domain of LDH labels with at least
// one dot.  Pure syntax.
bool valid_addr_spec(std::string_view addr);

}  // namespace ses::mail
