// tracking_rewrite.hpp -- click and open tracking in HTML: link rewriting
// and the open pixel, in the text/html parts of a message (GMime).
//
// rewrite_html() is a tag scanner, not an HTML parser: it walks the
// document tag by tag, honouring quoted attribute values, comments,
// CDATA, declarations and the raw text of <script> and <style>, and
// rewrites the `href` of <a> and <area> tags whose value is an absolute
// http(s) URL (after decoding the character references &amp; &quot;
// &apos; &lt; &gt; and numeric ones: the callback sees the URL a browser
// would follow).  Other links (mailto:, tel:, #fragments, relative ones)
// and every other byte are kept.  The pixel goes before the last </body>
// outside comments and raw text, else at the end.  Limits: a tag written
// by a script, a URL in CSS or in a <form action>, and links in a
// document whose markup is broken enough that a browser would recover
// differently (an unterminated quote swallows the rest of the document:
// then nothing after it is rewritten) are not tracked.
//
// rewrite_html_parts() applies it to every text/html part of a body that
// is not an attachment and whose charset is ASCII-compatible (UTF-16/32
// and ISO-2022 parts are left alone), keeping each part's
// Content-Transfer-Encoding (quoted-printable, base64, 7bit, 8bit) and
// charset.  Every other part (text/plain, attachments, forwarded
// messages) is written back byte for byte as GMime parsed it.
//
// Errors: none for HTML (any input gives output); rewrite_html_parts()
// gives nullopt when nothing was rewritten.  GMime objects are per call:
// thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ses::mail {

struct TrackingRewrite {
    // Called for each http(s) link, in document order, with the decoded
    // URL; returns the URL to write instead ("": keep the link).  Empty
    // function: links are kept.
    std::function<std::string(std::string_view url)> link;
    std::string pixel_url;  // "": no pixel
};

std::string rewrite_html(std::string_view html, const TrackingRewrite& r);

// `content_type` / `transfer_encoding`: the top-level header values ("":
// absent).  The new body has CRLF line ends; top-level headers stay valid.
Result<std::optional<std::string>> rewrite_html_parts(std::string_view content_type, std::string_view transfer_encoding,
                                                      std::string_view body, const TrackingRewrite& r);

}  // namespace ses::mail
