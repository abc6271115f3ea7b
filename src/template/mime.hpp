// mime.hpp -- the template stage's view of src/mail/mime.hpp.
//
// The MIME work (GMime) lives in src/mail/; this header gives the template
// code its names for it and turns a Rendered template into body parts.
// Thread-safe as mail/mime.hpp.
#pragma once

#include "mail/address.hpp"
#include "mail/mime.hpp"
#include "template/render.hpp"

namespace ses::tmpl {

using mail::base64_decode;
using mail::decode_header;
using mail::encode_subject;
using mail::NewBody;
using mail::utf8_error_offset;
using mail::valid_utf8;

inline void init() { mail::init(); }

inline Result<NewBody> rebuild(std::string_view content_type, std::string_view body, const Rendered& r) {
    return mail::rebuild_body(content_type, body, mail::BodyParts{r.html, r.text});
}

}  // namespace ses::tmpl
