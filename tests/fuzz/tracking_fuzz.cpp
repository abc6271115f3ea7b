// tracking_fuzz.cpp -- libFuzzer target: the tracking HTML rewriter
// (src/mail/tracking_rewrite.*) on hostile HTML and MIME bodies.
//
// The first input byte picks the mode: even, the rest is an HTML document
// for rewrite_html(); odd, it is a message body for rewrite_html_parts()
// (GMime) under the top-level Content-Type picked by bits 1-2
// (multipart/mixed, text/html, multipart/alternative, text/plain) and the
// Content-Transfer-Encoding picked by bits 6-7 (none, quoted-printable,
// base64, 8bit); '1' is multipart/mixed without an encoding.  Invariants
// checked: every link handed to the callback is an http(s) URL; a callback
// that keeps every link and adds no pixel returns the document unchanged;
// the rewritten body of a MIME message has only CRLF line ends.  Crashes,
// sanitizer reports and a broken invariant (abort) are findings.
//
//   make fuzz && build/fuzz/tracking_fuzz -max_total_time=60 -max_len=65536 CORPUS
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/tracking_rewrite.hpp"
#include "util/strings.hpp"

using namespace ses;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool http_url(std::string_view u) {
    std::string l = str::lower(u.substr(0, 8));
    return l.starts_with("http://") || l.starts_with("https://");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    size_t links = 0;
    mail::TrackingRewrite r;
    r.link = [&](std::string_view u) {
        check(http_url(u));
        return "https://t.example/c/" + std::to_string(links++);
    };
    r.pixel_url = "https://t.example/o/P";
    if ((data[0] & 1) == 0) {
        (void)mail::rewrite_html(in, r);
        mail::TrackingRewrite keep;
        keep.link = [](std::string_view u) {
            check(http_url(u));
            return std::string();
        };
        check(mail::rewrite_html(in, keep) == in);
        return 0;
    }
    static const char* const types[] = {"multipart/mixed; boundary=\"b\"", "text/html; charset=utf-8",
                                        "multipart/alternative; boundary=\"A\"", "text/plain"};
    static const char* const encodings[] = {"", "quoted-printable", "base64", "8bit"};
    auto out = mail::rewrite_html_parts(types[(data[0] >> 1) & 3], encodings[(data[0] >> 6) & 3], in, r);
    if (out && *out)
        for (size_t i = 0; i < (*out)->size(); ++i)
            if ((**out)[i] == '\n') check(i > 0 && (**out)[i - 1] == '\r');
    return 0;
}
