// long_lines.hpp -- body lines over 998 octets, made safe before signing.
//
// RFC 5322 2.1.1 limits a line to 998 octets.  Postfix's SMTP client folds a
// longer body line when it delivers (smtp_line_length_limit = 998), which
// changes the body after it was signed: every DKIM signature then fails its
// body hash at the receiver.  fix_long_lines() makes sure a message never
// leaves with such a signature:
//   - no line over 998 octets (the Body tracked it while streaming): nothing
//     happens, the body is not read again;
//   - policy `reencode`: each leaf text/* part in 7bit/8bit (or a non-MIME
//     text/plain body) holding such a line is re-encoded as
//     quoted-printable with GMime; every other part is written back as
//     parsed.  The body is replaced (Edit) and the Content-Transfer-Encoding
//     (and MIME-Version) header changed when the top-level part is the one
//     re-encoded;
//   - a line that cannot be re-encoded -- in a composite part's preamble or
//     epilogue, inside multipart/signed (re-encoding would break that
//     signature), in a non-text leaf or a base64/quoted-printable/binary
//     one, in an attached message/rfc822, or in a non-MIME message whose
//     Content-Type is not text/plain -- and every such message under policy
//     `reject`, is refused: 554 5.6.0 with the cause.
// Errors: the 554 reply above; internal errors when the body cannot be read.
// Thread-safe (GMime objects per call; mail::init() before threads).
#pragma once

#include <cstddef>
#include <string_view>

#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::mail {

constexpr size_t kMaxLineOctets = 998;

enum class LongLinePolicy { reencode, reject };
LongLinePolicy long_line_policy(std::string_view name);  // "reencode" / "reject" (config's dkim.long_lines)

Status fix_long_lines(Message& msg, LongLinePolicy policy);

// Pure: the longest line of `text` in octets, CR LF excluded.
size_t longest_line(std::string_view text);

}  // namespace ses::mail
