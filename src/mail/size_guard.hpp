// size_guard.hpp -- counts message bytes as they stream in.  Pure.
//
// The size of a message is the message as the MTA stores and sends it:
// every header line "Name: value\r\n" (the value as the MTA passes it, with
// its leading space and its folds, each line break counted as CRLF), the
// blank line ending the headers (2 bytes), and the body as received (the
// MTA passes it with CRLF line ends).  A message of exactly `limit` bytes
// fits; the first add that passes the limit returns false and the milter
// answers 552 5.3.4.
#pragma once

#include <cstdint>
#include <string_view>

namespace ses::mail {

class SizeGuard {
public:
    explicit SizeGuard(uint64_t limit = 0) : limit_(limit) {}
    void reset(uint64_t limit) {
        limit_ = limit;
        used_ = 0;
    }
    // `value` as passed by the MTA with its leading space ("Name:" + value).
    bool add_header(std::string_view name, std::string_view value) {
        return add(name.size() + 1 + line_bytes(value) + 2);
    }
    bool add_separator() { return add(2); }  // the blank line after the headers
    bool add_body(uint64_t n) { return add(n); }
    bool over() const { return used_ > limit_; }
    uint64_t used() const { return used_; }
    uint64_t limit() const { return limit_; }

private:
    // A fold the MTA passes as a bare LF is stored as CRLF.
    static uint64_t line_bytes(std::string_view v) {
        uint64_t n = v.size();
        for (size_t i = v.find('\n'); i != std::string_view::npos; i = v.find('\n', i + 1))
            if (i == 0 || v[i - 1] != '\r') ++n;
        return n;
    }
    bool add(uint64_t n) {
        used_ += n;
        return used_ <= limit_;
    }
    uint64_t limit_;
    uint64_t used_ = 0;
};

}  // namespace ses::mail
