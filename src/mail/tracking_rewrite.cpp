// tracking_rewrite.cpp -- see tracking_rewrite.hpp.
#include "mail/tracking_rewrite.hpp"

#include <gmime/gmime.h>

#include "mail/address.hpp"
#include "mail/gmime_util.hpp"
#include "util/strings.hpp"

namespace ses::mail {
using gm::content_of;
using gm::FormatOptions;
using gm::Ref;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Case-insensitive search for an ASCII needle.
size_t ifind(std::string_view hay, std::string_view needle, size_t from) {
    if (needle.empty() || hay.size() < needle.size()) return std::string_view::npos;
    for (size_t i = from; i + needle.size() <= hay.size(); ++i)
        if (str::iequals(hay.substr(i, needle.size()), needle)) return i;
    return std::string_view::npos;
}

void put_utf8(std::string& out, unsigned long cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | cp >> 6));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | cp >> 12));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | cp >> 18));
        out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// The attribute value a browser sees: the common character references
// decoded, anything else kept as written.
std::string decode_refs(std::string_view v) {
    std::string out;
    for (size_t i = 0; i < v.size();) {
        if (v[i] != '&') {
            out.push_back(v[i++]);
            continue;
        }
        size_t semi = v.find(';', i);
        if (semi == std::string_view::npos || semi - i > 10) {
            out.push_back(v[i++]);
            continue;
        }
        std::string_view name = v.substr(i + 1, semi - i - 1);
        const char* named = name == "amp"    ? "&"
                            : name == "quot" ? "\""
                            : name == "apos" ? "'"
                            : name == "lt"   ? "<"
                            : name == "gt"   ? ">"
                                             : nullptr;
        if (named) {
            out += named;
            i = semi + 1;
            continue;
        }
        if (name.size() >= 2 && name[0] == '#') {
            bool hex = name[1] == 'x' || name[1] == 'X';
            std::string_view digits = name.substr(hex ? 2 : 1);
            unsigned long cp = 0;
            bool ok = !digits.empty();
            for (char c : digits) {
                int d = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0) {
                    ok = false;
                    break;
                }
                cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(d);
                if (cp > 0x10FFFF) cp = 0x110000;
            }
            if (ok) {
                put_utf8(out, cp);
                i = semi + 1;
                continue;
            }
        }
        out.push_back(v[i++]);
    }
    return out;
}

bool trackable(std::string_view url) {
    std::string_view u = str::trim(url);
    return (u.size() > 7 && str::iequals(u.substr(0, 7), "http://")) ||
           (u.size() > 8 && str::iequals(u.substr(0, 8), "https://"));
}

// An attribute value can hold any URL we write: ours are ASCII without
// quotes, but escape what would end the value anyway.
std::string attr_escape(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '"')
            out += "&quot;";
        else if (c == '&')
            out += "&amp;";
        else
            out.push_back(c);
    }
    return out;
}

std::string pixel_tag(const std::string& url) {
    return "<img src=\"" + attr_escape(url) +
           "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">";
}

}  // namespace

std::string rewrite_html(std::string_view h, const TrackingRewrite& r) {
    std::string out;
    out.reserve(h.size() + h.size() / 8 + 256);
    size_t body_close = std::string::npos;  // in `out`
    size_t i = 0;
    const size_t n = h.size();
    while (i < n) {
        size_t lt = h.find('<', i);
        if (lt == std::string_view::npos) {
            out.append(h.substr(i));
            break;
        }
        out.append(h.substr(i, lt - i));
        i = lt;
        auto copy_through = [&](std::string_view end) {
            size_t e = h.find(end, i);
            size_t stop = e == std::string_view::npos ? n : e + end.size();
            out.append(h.substr(i, stop - i));
            i = stop;
        };
        std::string_view rest = h.substr(i);
        if (rest.starts_with("<!--")) {
            // A comment ends at the first "-->" after its opening.
            size_t e = h.find("-->", i + 4);
            size_t stop = e == std::string_view::npos ? n : e + 3;
            out.append(h.substr(i, stop - i));
            i = stop;
            continue;
        }
        if (rest.starts_with("<![CDATA[")) {
            copy_through("]]>");
            continue;
        }
        if (rest.starts_with("<!") || rest.starts_with("<?")) {
            copy_through(">");
            continue;
        }
        size_t p = i + 1;
        bool closing = p < n && h[p] == '/';
        if (closing) ++p;
        size_t name_start = p;
        if (p >= n || !is_alpha(h[p])) {  // "<" as text ("a < b")
            out.push_back('<');
            ++i;
            continue;
        }
        while (p < n && !is_space(h[p]) && h[p] != '>' && h[p] != '/') ++p;
        std::string name = str::lower(h.substr(name_start, p - name_start));
        // Attributes, so that a '>' inside a quoted value does not end the tag.
        bool link_tag = !closing && (name == "a" || name == "area");
        size_t href_start = 0, href_end = 0;
        bool have_href = false;
        bool broken = false;
        while (p < n && h[p] != '>') {
            if (is_space(h[p]) || h[p] == '/') {
                ++p;
                continue;
            }
            size_t an = p;
            while (p < n && !is_space(h[p]) && h[p] != '>' && h[p] != '=' && h[p] != '/') ++p;
            if (p == an) ++p;  // a lone '=' : skip it
            std::string_view attr = h.substr(an, p - an);
            while (p < n && is_space(h[p])) ++p;
            if (p >= n || h[p] != '=') continue;
            ++p;
            while (p < n && is_space(h[p])) ++p;
            if (p >= n) break;
            size_t vs = p, ve = p;
            if (h[p] == '"' || h[p] == '\'') {
                size_t q = h.find(h[p], p + 1);
                if (q == std::string_view::npos) {
                    broken = true;
                    p = n;
                    break;
                }
                vs = p;
                ve = q + 1;
                p = q + 1;
            } else {
                while (p < n && !is_space(h[p]) && h[p] != '>') ++p;
                ve = p;
            }
            if (link_tag && !have_href && str::iequals(attr, "href")) {
                have_href = true;
                href_start = vs;
                href_end = ve;
            }
        }
        size_t tag_end = p < n ? p + 1 : n;
        if (broken || !have_href || !r.link) {
            if (closing && name == "body") body_close = out.size();
            out.append(h.substr(i, tag_end - i));
            i = tag_end;
        } else {
            std::string_view raw = h.substr(href_start, href_end - href_start);
            if (!raw.empty() && (raw.front() == '"' || raw.front() == '\''))
                raw = raw.substr(1, raw.size() >= 2 ? raw.size() - 2 : 0);
            std::string url = decode_refs(raw);
            std::string fresh = trackable(url) ? r.link(std::string(str::trim(url))) : std::string();
            if (fresh.empty()) {
                out.append(h.substr(i, tag_end - i));
            } else {
                out.append(h.substr(i, href_start - i));
                out += "\"" + attr_escape(fresh) + "\"";
                out.append(h.substr(href_end, tag_end - href_end));
            }
            i = tag_end;
        }
        if (!closing && (name == "script" || name == "style" || name == "textarea" || name == "title")) {
            // Raw text: no tags inside until the matching end tag.
            size_t e = ifind(h, "</" + name, i);
            size_t stop = e == std::string_view::npos ? n : e;
            out.append(h.substr(i, stop - i));
            i = stop;
        }
    }
    if (!r.pixel_url.empty()) {
        std::string px = pixel_tag(r.pixel_url);
        if (body_close == std::string::npos)
            out += px;
        else
            out.insert(body_close, px);
    }
    return out;
}

namespace {

bool ascii_compatible(GMimeObject* o) {
    const char* cs = g_mime_object_get_content_type_parameter(o, "charset");
    if (!cs) return true;
    std::string c = str::lower(cs);
    return !(c.starts_with("utf-16") || c.starts_with("utf-32") || c.starts_with("ucs") || c.starts_with("iso-2022") ||
             c.starts_with("utf-7") || c == "unicode");
}

std::string decoded_content(GMimePart* part) {
    GMimeDataWrapper* dw = g_mime_part_get_content(part);
    if (!dw) return {};
    Ref<GMimeStream> mem{g_mime_stream_mem_new()};
    g_mime_data_wrapper_write_to_stream(dw, mem.get());
    return gm::stream_text(mem.get());
}

// Rewrites the HTML parts under `o`; true when one changed.
bool walk(GMimeObject* o, const TrackingRewrite& r) {
    if (GMIME_IS_MULTIPART(o)) {
        bool any = false;
        GMimeMultipart* mp = GMIME_MULTIPART(o);
        for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) any = walk(g_mime_multipart_get_part(mp, i), r) || any;
        return any;
    }
    if (!GMIME_IS_PART(o)) return false;  // message/rfc822: a forwarded message is not ours
    GMimeContentType* ct = g_mime_object_get_content_type(o);
    if (!ct || !g_mime_content_type_is_type(ct, "text", "html")) return false;
    GMimePart* part = GMIME_PART(o);
    if (g_mime_part_is_attachment(part) || !ascii_compatible(o)) return false;
    std::string html = decoded_content(part);
    std::string fresh = rewrite_html(html, r);
    if (fresh == html) return false;
    GMimeContentEncoding enc = g_mime_part_get_content_encoding(part);
    Ref<GMimeStream> s{g_mime_stream_mem_new_with_buffer(fresh.data(), fresh.size())};
    Ref<GMimeDataWrapper> dw{g_mime_data_wrapper_new_with_stream(s.get(), GMIME_CONTENT_ENCODING_DEFAULT)};
    g_mime_part_set_content(part, dw.get());
    // The transfer encoding stays what the sender chose (a 7bit part whose
    // new content is still ASCII stays 7bit: our URLs are ASCII).
    g_mime_part_set_content_encoding(part, enc);
    return true;
}

}  // namespace

Result<std::optional<std::string>> rewrite_html_parts(std::string_view content_type, std::string_view transfer_encoding,
                                                      std::string_view body, const TrackingRewrite& r) {
    init();
    std::string whole = "Content-Type: " + std::string(content_type.empty() ? "text/plain" : content_type) + "\r\n";
    if (!transfer_encoding.empty()) whole += "Content-Transfer-Encoding: " + std::string(transfer_encoding) + "\r\n";
    whole += "\r\n";
    whole.append(body);
    Ref<GMimeStream> in{g_mime_stream_mem_new_with_buffer(whole.data(), whole.size())};
    Ref<GMimeParser> parser{g_mime_parser_new_with_stream(in.get())};
    Ref<GMimeObject> top{g_mime_parser_construct_part(parser.get(), nullptr)};
    if (!top) return std::optional<std::string>();
    if (!walk(top.get(), r)) return std::optional<std::string>();
    FormatOptions fmt;
    return std::optional<std::string>(content_of(top.get(), fmt.fo));
}

}  // namespace ses::mail
