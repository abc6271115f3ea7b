// gmime_util.cpp -- see gmime_util.hpp.
#include "mail/gmime_util.hpp"

#include <string_view>

namespace ses::mail::gm {

std::string content_of(GMimeObject* o, GMimeFormatOptions* fo) {
    Ref<GMimeStream> out{g_mime_stream_mem_new()};
    g_mime_object_write_content_to_stream(o, fo, out.get());
    GByteArray* ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    std::string_view in(reinterpret_cast<const char*>(ba->data), ba->len);
    // GMime leaves a bare LF after an epilogue: make every line end CRLF.
    std::string s;
    s.reserve(in.size() + 2);
    size_t pos = 0;
    for (size_t nl; (nl = in.find('\n', pos)) != std::string_view::npos; pos = nl + 1) {
        s.append(in, pos, nl - pos);
        if (nl == 0 || in[nl - 1] != '\r') s += '\r';
        s += '\n';
    }
    s.append(in, pos);
    if (s.size() < 2 || s.compare(s.size() - 2, 2, "\r\n") != 0) s += "\r\n";
    return s;
}

std::string stream_text(GMimeStream* s) {
    g_mime_stream_reset(s);
    Ref<GMimeStream> out{g_mime_stream_mem_new()};
    g_mime_stream_write_to_stream(s, out.get());
    GByteArray* ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    return std::string(reinterpret_cast<const char*>(ba->data), ba->len);
}

}  // namespace ses::mail::gm
