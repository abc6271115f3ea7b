// size_guard.hpp -- counts message bytes as they stream in.  Pure.
//
// Headers count as "Name: value\r\n", the body as received.  The first add()
// that passes the limit returns false; the milter answers 552 5.3.4 at once.
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
    bool add_header(std::string_view name, std::string_view value) { return add(name.size() + value.size() + 4); }
    bool add_body(size_t n) { return add(n); }
    bool over() const { return used_ > limit_; }
    uint64_t used() const { return used_; }
    uint64_t limit() const { return limit_; }

private:
    bool add(uint64_t n) {
        used_ += n;
        return used_ <= limit_;
    }
    uint64_t limit_;
    uint64_t used_ = 0;
};

}  // namespace ses::mail
