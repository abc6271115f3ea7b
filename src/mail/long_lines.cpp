// long_lines.cpp -- see long_lines.hpp.
#include "mail/long_lines.hpp"

#include "mail/address.hpp"
#include "mail/gmime_util.hpp"
#include "mail/replies.hpp"
#include "util/strings.hpp"

namespace ses::mail {
namespace {

using gm::FormatOptions;
using gm::Ref;

Error refuse(const std::string& why) { return error_for(ReplyReason::long_line, why); }

bool too_long(std::string_view s) { return longest_line(s) > kMaxLineOctets; }

std::string type_of(GMimeObject* o) {
    GMimeContentType* ct = g_mime_object_get_content_type(o);
    if (!ct) return "text/plain";
    return str::lower(std::string(g_mime_content_type_get_media_type(ct)) + "/" +
                      g_mime_content_type_get_media_subtype(ct));
}

bool is_identity(GMimeContentEncoding e) {
    return e == GMIME_CONTENT_ENCODING_DEFAULT || e == GMIME_CONTENT_ENCODING_7BIT || e == GMIME_CONTENT_ENCODING_8BIT;
}

// Text with CRLF (or LF) line ends as LF text: GMime's encoder treats LF as
// the line break and the output options turn it back into CRLF.  A CR alone
// stays (and is encoded as =0D).
std::string to_lf(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') continue;
        out += in[i];
    }
    return out;
}

// Gives `part` the LF text `content` and quoted-printable encoding.
void set_qp(GMimePart* part, const std::string& content) {
    Ref<GMimeStream> s{g_mime_stream_mem_new_with_buffer(content.data(), content.size())};
    Ref<GMimeDataWrapper> dw{g_mime_data_wrapper_new_with_stream(s.get(), GMIME_CONTENT_ENCODING_DEFAULT)};
    g_mime_part_set_content(part, dw.get());
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
}

Status walk(GMimeObject* o, GMimeFormatOptions* fo) {
    if (GMIME_IS_MULTIPART(o)) {
        GMimeMultipart* mp = GMIME_MULTIPART(o);
        const char* pro = g_mime_multipart_get_prologue(mp);
        const char* epi = g_mime_multipart_get_epilogue(mp);
        if ((pro && too_long(pro)) || (epi && too_long(epi)))
            return refuse("in the preamble or epilogue of a " + type_of(o) + " part");
        if (type_of(o) == "multipart/signed" && too_long(gm::content_of(o, fo)))
            return refuse("inside multipart/signed (re-encoding would break that signature)");
        for (int i = 0, n = g_mime_multipart_get_count(mp); i < n; ++i)
            if (auto st = walk(g_mime_multipart_get_part(mp, i), fo); !st) return st;
        return ok_status();
    }
    if (GMIME_IS_PART(o)) {
        GMimePart* part = GMIME_PART(o);
        GMimeDataWrapper* dw = g_mime_part_get_content(part);
        if (!dw) return ok_status();
        std::string raw = gm::stream_text(g_mime_data_wrapper_get_stream(dw));
        if (!too_long(raw)) return ok_status();
        std::string type = type_of(o);
        if (type.rfind("text/", 0) != 0) return refuse("in a " + type + " part");
        if (!is_identity(g_mime_part_get_content_encoding(part)))
            return refuse("in a " + type + " part that is not 7bit or 8bit");
        set_qp(part, to_lf(raw));
        return ok_status();
    }
    // message/rfc822 and message/partial: the enclosed message must stay
    // as it is (RFC 2046 5.2.1 allows no transfer encoding but 7bit/8bit).
    if (too_long(gm::content_of(o, fo))) return refuse("in an attached " + type_of(o));
    return ok_status();
}

}  // namespace

LongLinePolicy long_line_policy(std::string_view name) {
    return name == "reject" ? LongLinePolicy::reject : LongLinePolicy::reencode;
}

size_t longest_line(std::string_view text) {
    Body b;
    b.assign(std::string(text));
    return b.longest_line();
}

Status fix_long_lines(Message& msg, LongLinePolicy policy) {
    if (msg.body_data().longest_line() <= kMaxLineOctets) return ok_status();
    if (policy == LongLinePolicy::reject) return refuse("in the body");
    auto text = msg.body_data().text();
    if (!text) return text.error();
    init();
    FormatOptions fmt;
    std::string ct = msg.value("Content-Type").value_or("");
    bool mime = msg.find("MIME-Version") != nullptr;
    Ref<GMimeContentType> parsed{g_mime_content_type_parse(nullptr, ct.empty() ? "text/plain" : ct.c_str())};
    std::string type = parsed ? str::lower(std::string(g_mime_content_type_get_media_type(parsed.get())) + "/" +
                                           g_mime_content_type_get_media_subtype(parsed.get()))
                              : "text/plain";
    if (!mime && type != "text/plain") return refuse("in a non-MIME message whose body is not text/plain");

    std::string out;
    if (mime && type.rfind("multipart/", 0) == 0) {
        std::string whole = "Content-Type: " + ct + "\r\n\r\n";
        whole += *text;
        Ref<GMimeStream> in{g_mime_stream_mem_new_with_buffer(whole.data(), whole.size())};
        Ref<GMimeParser> parser{g_mime_parser_new_with_stream(in.get())};
        Ref<GMimeObject> top{g_mime_parser_construct_part(parser.get(), nullptr)};
        if (!top || !GMIME_IS_MULTIPART(top.get())) return refuse("in a " + type + " body GMime cannot parse");
        if (auto st = walk(top.get(), fmt.fo); !st) return st;
        out = gm::content_of(top.get(), fmt.fo);
    } else {
        // One leaf: the body itself is the part.
        if (mime && type.rfind("text/", 0) != 0) return refuse("in a " + type + " body");
        std::string cte = str::lower(msg.value("Content-Transfer-Encoding").value_or(""));
        if (!(cte.empty() || cte == "7bit" || cte == "8bit"))
            return refuse("in a body with Content-Transfer-Encoding " + cte);
        Ref<GMimePart> part{g_mime_part_new_with_type("text", "plain")};
        set_qp(part.get(), to_lf(*text));
        out = gm::content_of(GMIME_OBJECT(part.get()), fmt.fo);
        msg.change_header("Content-Transfer-Encoding", 1, "quoted-printable");
        if (!mime) msg.add_header("MIME-Version", "1.0");
    }
    // Part headers are body lines too: whatever is still too long cannot
    // be fixed here.
    if (too_long(out)) return refuse("in a part header or another place that cannot be re-encoded");
    msg.replace_body(std::move(out));
    return ok_status();
}

}  // namespace ses::mail
