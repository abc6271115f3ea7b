// canon.hpp -- DKIM canonicalisation (RFC 6376 section 3.4) and the choice
// of the header fields a signature covers (section 5.4).
//
// Pure functions and one streaming object, no I/O, no OpenSSL.  The input
// is what the milter hands over: header values as received (a leading
// space kept, folded lines separated by "\n" or "\r\n"), the body in
// chunks of any size with CRLF line ends.
//
// Bare CR and bare LF in the body are ordinary octets, as RFC 6376 defines
// them (a line ends only at CRLF): that is what an independent verifier
// hashes.  libopendkim 2.11 differs there (its simple body canonicalisation
// loses octets around a bare LF, its relaxed one drops a bare CR); the
// native signer does not copy that (tests/unit/dkim_test.cpp, "bodies
// libopendkim treats otherwise follow RFC 6376").
// A body whose last line lacks its CRLF gets one (RFC 6376 3.4.3, 3.4.4).
//
// Errors: none (every input has a canonical form).  Thread safety: a
// BodyCanon is used by one thread; the functions are reentrant.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ses::dkim {

enum class Canon { simple, relaxed };

// Appends the canonical form of the header field `name: value`, with its
// CRLF, to `out`.  `value` is everything after the colon.
void canon_header(Canon c, std::string_view name, std::string_view value, std::string& out);

// Streaming body canonicalisation.  Output reaches `sink` in spans of up to
// kSpan bytes (one hash update per span, not per byte); finish() flushes
// the rest and applies the end-of-body rules.  Trailing empty lines are
// held back until content follows them, so a run of them may straddle any
// number of chunks, as may a CRLF or a WSP run.
class BodyCanon {
public:
    using Sink = std::function<void(std::string_view)>;
    static constexpr size_t kSpan = 16384;

    BodyCanon(Canon c, Sink sink);
    void feed(std::string_view chunk);
    void finish();
    size_t length() const { return length_; }  // canonical bytes produced so far

private:
    void flush_pending();
    void end_line();
    void emit(const char* p, size_t n);
    void drain();

    Canon canon_;
    Sink sink_;
    std::string out_;
    size_t length_ = 0;
    size_t blank_lines_ = 0;     // empty lines not yet emitted
    bool cr_ = false;            // the last octet seen was CR
    bool wsp_ = false;           // relaxed: a WSP run is pending inside the line
    bool line_content_ = false;  // the current line has content already
    bool finished_ = false;
};

// The header fields a signature covers.  `names` is the h= list: every
// field of the message whose name is in `sign` (case-insensitive), in
// message order and spelled as in the message, then each `oversign` name
// once more (so that no further instance can be added).  `order` indexes
// into the message's fields in the order they are hashed: for each name of
// h=, the last instance not yet used, bottom-up (RFC 6376 5.4.2); a name
// with no instance left hashes nothing.
struct HeaderField {
    std::string_view name;
    std::string_view value;
};
struct HeaderSelection {
    std::vector<std::string> names;
    std::vector<size_t> order;
};
HeaderSelection select_headers(const std::vector<HeaderField>& fields, const std::vector<std::string>& sign,
                               const std::vector<std::string>& oversign);

}  // namespace ses::dkim
