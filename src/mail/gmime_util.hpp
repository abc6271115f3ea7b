// gmime_util.hpp -- small RAII helpers for GMime, shared by src/mail/*.cpp.
//
// Internal to src/mail/ (the only folder that includes GMime).  Ref<T>
// drops a GObject reference; FormatOptions are per call (CRLF output),
// never the shared defaults.  Thread-safe as long as objects are not shared.
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <string>

namespace ses::mail::gm {

struct Unref {
    void operator()(void* p) const {
        if (p) g_object_unref(p);
    }
};
template <class T>
using Ref = std::unique_ptr<T, Unref>;

struct FormatOptions {
    GMimeFormatOptions* fo = g_mime_format_options_new();
    FormatOptions() { g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS); }
    ~FormatOptions() { g_mime_format_options_free(fo); }
    FormatOptions(const FormatOptions&) = delete;
    FormatOptions& operator=(const FormatOptions&) = delete;
};

struct GFree {
    void operator()(void* p) const { g_free(p); }
};
using GString_ = std::unique_ptr<char, GFree>;

// The content of `o` (a part without its own headers) as written with `fo`,
// every line ending CRLF.
std::string content_of(GMimeObject* o, GMimeFormatOptions* fo);

// All bytes of a stream, from its start.
std::string stream_text(GMimeStream* s);

}  // namespace ses::mail::gm
