// dkim_canon_fuzz.cpp -- libFuzzer target: the native signer's body
// canonicalisation (src/dkim/canon.hpp) against a plain reading of RFC 6376
// sections 3.4.3 and 3.4.4.
//
// The first input byte picks simple or relaxed and seeds the chunk sizes;
// the rest is the body.  BodyCanon must produce, whatever the chunking,
// exactly what the reference below produces from the whole body at once:
// split into lines at CRLF (a last line without one gets one), relaxed
// turns each run of SP/HTAB into one SP and drops WSP at line ends, both
// drop trailing empty lines, and an empty body is CRLF (simple) or nothing
// (relaxed).  Bare CR and LF are ordinary octets.  A difference, a crash
// or a sanitizer report is a finding.
//
//   make fuzz && build/fuzz/dkim_canon_fuzz -max_total_time=60 -max_len=65536 CORPUS tests/data/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/canon.hpp"

using namespace ses;

namespace {

std::string reference(dkim::Canon c, std::string_view body) {
    std::vector<std::string> lines;
    size_t from = 0;
    while (from < body.size()) {
        size_t end = body.find("\r\n", from);
        if (end == std::string_view::npos) {
            lines.emplace_back(body.substr(from));
            break;
        }
        lines.emplace_back(body.substr(from, end - from));
        from = end + 2;
    }
    if (c == dkim::Canon::relaxed) {
        for (auto& l : lines) {
            std::string out;
            bool wsp = false;
            for (char ch : l) {
                if (ch == ' ' || ch == '\t') {
                    wsp = true;
                    continue;
                }
                if (wsp) out += ' ';
                wsp = false;
                out += ch;
            }
            l = out;  // WSP at the end of the line is dropped
        }
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    std::string out;
    for (auto& l : lines) out += l + "\r\n";
    if (out.empty() && c == dkim::Canon::simple) out = "\r\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const dkim::Canon c = (data[0] & 1) ? dkim::Canon::relaxed : dkim::Canon::simple;
    uint32_t seed = data[0] | 1u;
    std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

    std::string got;
    dkim::BodyCanon bc(c, [&](std::string_view s) { got.append(s); });
    size_t at = 0;
    while (at < body.size()) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 64;
        if (n > body.size() - at) n = body.size() - at;
        bc.feed(body.substr(at, n));
        at += n;
    }
    bc.finish();
    const std::string want = reference(c, body);
    if (got != want || bc.length() != want.size()) std::abort();
    return 0;
}
