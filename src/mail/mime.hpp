// mime.hpp -- MIME work done with GMime 3: new bodies, RFC 2047 words, UTF-8.
//
// GMime is included only in src/mail/; the template stage (src/template/)
// and the long-line check use these functions, never GMime itself.
//
// rebuild_body() takes a submitted body (CRLF) and its top-level
// Content-Type and returns the new body: the given parts as
// multipart/alternative (text/plain then text/html, UTF-8; 7bit when a part
// is ASCII with lines of at most 998 bytes, quoted-printable otherwise), or
// the one part when there is only one.  When the submitted message is
// multipart/mixed (attachments) or multipart/related (inline images), only
// its first, textual part is replaced (or the new body inserted first) and
// every other part is written back as GMime parsed it: headers and encoded
// content byte for byte.  Otherwise the whole body is replaced.
//
// encode_subject() gives a Subject value: ASCII as is, else RFC 2047
// encoded-words in UTF-8.  decode_header() undoes RFC 2047.
// base64_decode() refuses anything but base64.
//
// mail::init() (address.hpp: g_mime_init() once) is called by the daemon
// before threads start, and by every function here.  GMime objects are made
// per call and never shared: thread-safe.  Errors are internal (GMime
// refused to build).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ses::mail {

struct BodyParts {
    std::optional<std::string> html;  // LF line ends
    std::optional<std::string> text;
};

struct NewBody {
    std::string body;               // CRLF line ends
    bool whole = false;             // the whole body was replaced: the top-level
                                    // Content-Type/-Transfer-Encoding below apply
                                    // and other top-level Content-* fields are stale
    std::string content_type;       // when whole: the new top-level Content-Type value
    std::string transfer_encoding;  // when whole: the new CTE value, "" = no header
};

// `content_type`: the top-level Content-Type value ("" = absent, i.e.
// text/plain).
Result<NewBody> rebuild_body(std::string_view content_type, std::string_view body, const BodyParts& parts);

std::string encode_subject(const std::string& utf8);
std::string decode_header(const std::string& value);
std::optional<std::string> base64_decode(std::string_view in);

// UTF-8 validity (GLib): the offset of the first invalid byte, or npos.
size_t utf8_error_offset(std::string_view s);
inline bool valid_utf8(std::string_view s) { return utf8_error_offset(s) == std::string_view::npos; }

}  // namespace ses::mail
