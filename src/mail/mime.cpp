// mime.cpp -- see mime.hpp.
#include "mail/mime.hpp"

#include <gmime/gmime.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "crypto/encoding.hpp"
#include "mail/address.hpp"
#include "mail/gmime_util.hpp"

namespace ses::mail {
using gm::content_of;
using gm::FormatOptions;
using gm::GString_;
using gm::Ref;

namespace {

// 7bit when the text may travel as it is (ASCII, no NUL, lines of at most
// 998 bytes: RFC 5322 2.1.1, RFC 2045 2.7); quoted-printable otherwise.
bool has_zero_byte(uint64_t v) { return ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL) != 0; }

GMimeContentEncoding encoding_for(const std::string& text) {
    // 8 bytes at a time: any byte >= 0x80, NUL or CR means quoted-printable.
    const char* p = text.data();
    size_t n = text.size();
    uint64_t high = 0;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        high |= w;
        if (has_zero_byte(w) || has_zero_byte(w ^ 0x0d0d0d0d0d0d0d0dULL)) return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    }
    if (high & 0x8080808080808080ULL) return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    for (; n > 0; ++p, --n) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (c >= 0x80 || c == 0 || c == '\r') return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    }
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        if (nl - pos > 998) return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
        pos = nl + 1;
    }
    return GMIME_CONTENT_ENCODING_7BIT;
}

// A text part, UTF-8, 7bit or quoted-printable.
GMimeObject* text_part(const char* subtype, const std::string& content) {
    GMimeTextPart* part = g_mime_text_part_new_with_subtype(subtype);
    g_mime_part_set_content_encoding(GMIME_PART(part), encoding_for(content));
    Ref<GMimeStream> s{g_mime_stream_mem_new_with_buffer(content.data(), content.size())};
    Ref<GMimeDataWrapper> dw{g_mime_data_wrapper_new_with_stream(s.get(), GMIME_CONTENT_ENCODING_DEFAULT)};
    g_mime_part_set_content(GMIME_PART(part), dw.get());
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
    return GMIME_OBJECT(part);
}

// The rendered parts as one object (a new reference).
GMimeObject* new_body(const BodyParts& r) {
    if (r.text && r.html) {
        GMimeMultipart* alt = g_mime_multipart_new_with_subtype("alternative");
        Ref<GMimeObject> t{text_part("plain", *r.text)};
        Ref<GMimeObject> h{text_part("html", *r.html)};
        g_mime_multipart_add(alt, t.get());
        g_mime_multipart_add(alt, h.get());
        return GMIME_OBJECT(alt);
    }
    if (r.html) return text_part("html", *r.html);
    return text_part("plain", r.text ? *r.text : std::string());
}

bool is_type(GMimeObject* o, const char* type, const char* subtype) {
    GMimeContentType* ct = g_mime_object_get_content_type(o);
    return ct && g_mime_content_type_is_type(ct, type, subtype);
}

// The part a template replaces: the message text, not an attachment.
bool is_body_part(GMimeObject* o) {
    if (GMIME_IS_MULTIPART(o)) return is_type(o, "multipart", "alternative");
    if (!GMIME_IS_PART(o)) return false;
    if (!is_type(o, "text", "plain") && !is_type(o, "text", "html")) return false;
    return !g_mime_part_is_attachment(GMIME_PART(o));
}

// Put `body` first in a mixed/related multipart: replace the textual part
// or insert before the attachments.  Recurses into a related first part.
void place(GMimeMultipart* mp, GMimeObject* body) {
    if (g_mime_multipart_get_count(mp) > 0) {
        GMimeObject* first = g_mime_multipart_get_part(mp, 0);
        if (is_body_part(first)) {
            Ref<GMimeObject> old{g_mime_multipart_replace(mp, 0, body)};
            return;
        }
        if (GMIME_IS_MULTIPART(first) && is_type(first, "multipart", "related")) {
            place(GMIME_MULTIPART(first), body);
            return;
        }
    }
    g_mime_multipart_insert(mp, 0, body);
}

}  // namespace

Result<NewBody> rebuild_body(std::string_view content_type, std::string_view body, const BodyParts& r) {
    init();
    FormatOptions fmt;
    Ref<GMimeObject> fresh{new_body(r)};
    NewBody out;

    std::string ct(content_type);
    bool container = false;
    if (!ct.empty()) {
        Ref<GMimeContentType> parsed{g_mime_content_type_parse(nullptr, ct.c_str())};
        container = parsed &&
                    (g_mime_content_type_is_type(parsed.get(), "multipart", "mixed") ||
                     g_mime_content_type_is_type(parsed.get(), "multipart", "related")) &&
                    g_mime_content_type_get_parameter(parsed.get(), "boundary") != nullptr;
    }
    if (container) {
        std::string whole = "Content-Type: " + ct + "\r\n\r\n";
        whole.append(body);
        Ref<GMimeStream> in{g_mime_stream_mem_new_with_buffer(whole.data(), whole.size())};
        Ref<GMimeParser> parser{g_mime_parser_new_with_stream(in.get())};
        Ref<GMimeObject> top{g_mime_parser_construct_part(parser.get(), nullptr)};
        if (top && GMIME_IS_MULTIPART(top.get()) && g_mime_multipart_get_count(GMIME_MULTIPART(top.get())) > 0) {
            place(GMIME_MULTIPART(top.get()), fresh.get());
            out.body = content_of(top.get(), fmt.fo);
            out.whole = false;
            return out;
        }
        // No part found under that boundary: replace it all.
    }
    out.whole = true;
    out.body = content_of(fresh.get(), fmt.fo);
    const char* v = g_mime_object_get_header(fresh.get(), "Content-Type");
    if (!v) return internal_error("GMime built a part without a Content-Type");
    out.content_type = v;
    out.transfer_encoding =
        GMIME_IS_MULTIPART(fresh.get())
            ? ""
            : g_mime_content_encoding_to_string(g_mime_part_get_content_encoding(GMIME_PART(fresh.get())));
    return out;
}

std::string encode_subject(const std::string& utf8) {
    init();
    FormatOptions fmt;
    GString_ enc{g_mime_utils_header_encode_text(fmt.fo, utf8.c_str(), "utf-8")};
    std::string value = enc ? enc.get() : utf8;
    if (value.size() + 9 <= 998) return value;  // "Subject: " + value fits one line
    // Longer than a header line may be: fold between encoded words.  The
    // fold is "\n " as libmilter's header edits take it.
    std::string line = "Subject: " + value;
    GString_ folded{g_mime_utils_unstructured_header_fold(nullptr, fmt.fo, line.c_str())};
    if (!folded) return value;
    std::string f = folded.get();
    std::string r;
    for (char c : f)
        if (c != '\r') r += c;
    while (!r.empty() && r.back() == '\n') r.pop_back();
    if (r.rfind("Subject:", 0) == 0) r.erase(0, 8);
    while (!r.empty() && r[0] == ' ') r.erase(0, 1);
    return r;
}

std::string decode_header(const std::string& value) {
    if (value.find("=?") == std::string::npos) return value;
    init();
    // GMime 3.2.13 joins adjacent B-encoded words before decoding them and
    // stops at the first one's padding ("=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?="
    // gives "Hello": jstedfast/gmime#133, fixed after 3.2.13).  So it gets
    // one whitespace-delimited word at a time; as RFC 2047 section 6.2 asks,
    // whitespace between two encoded-words is dropped, any other is kept.
    std::string out;
    bool prev_encoded = false;
    size_t i = 0, n = value.size();
    while (i < n) {
        size_t j = value.find_first_not_of(" \t", i);
        if (j == std::string::npos) {
            out.append(value, i);
            break;
        }
        std::string ws = value.substr(i, j - i);
        size_t k = value.find_first_of(" \t", j);
        if (k == std::string::npos) k = n;
        std::string word = value.substr(j, k - j);
        i = k;
        bool encoded = false;
        if (word.size() >= 8 && word.compare(0, 2, "=?") == 0 && word.compare(word.size() - 2, 2, "?=") == 0) {
            GString_ dec{g_mime_utils_header_decode_text(nullptr, word.c_str())};
            if (dec && word != dec.get()) {
                encoded = true;
                if (!prev_encoded) out += ws;
                out += dec.get();
            }
        }
        if (!encoded) {
            out += ws;
            out += word;
        }
        prev_encoded = encoded;
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) { return crypto::base64_decode(in); }

size_t utf8_error_offset(std::string_view s) {
    const gchar* end = nullptr;
    if (g_utf8_validate_len(s.data(), s.size(), &end)) return std::string_view::npos;
    return static_cast<size_t>(end - s.data());
}

}  // namespace ses::mail
