// codec.hpp -- byte layouts for LMDB keys and values.
//
// Keys are built big-endian so that LMDB's memcmp order is numeric order:
// a key ending in a u64 time sorts by time, and a range scan from a prefix
// walks one identity's days in calendar order.  Signed values are stored
// with the sign bit flipped so negative numbers sort before positive ones.
// Values use the same primitives plus length-prefixed strings; every value
// starts with a one-byte layout version chosen by its owner.
//
// Errors: Reader never reads past its input; a short or malformed value
// makes good() false and every later read return zero/empty.
// Thread safety: plain values, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ses::store {

void put_u32be(std::string& out, uint32_t v);
void put_u64be(std::string& out, uint64_t v);
uint32_t get_u32be(std::string_view in, size_t pos = 0);  // 0 if out of range
uint64_t get_u64be(std::string_view in, size_t pos = 0);

// Order-preserving encodings of signed integers.
inline uint64_t i64_key(int64_t v) { return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63); }
inline int64_t i64_unkey(uint64_t v) { return static_cast<int64_t>(v ^ (uint64_t{1} << 63)); }
inline uint32_t i32_key(int32_t v) { return static_cast<uint32_t>(v) ^ (uint32_t{1} << 31); }
inline int32_t i32_unkey(uint32_t v) { return static_cast<int32_t>(v ^ (uint32_t{1} << 31)); }

// Appends key parts.  Text parts that are followed by more parts end with
// a NUL (text0) so that "a" + day sorts apart from "ab" + day.
class KeyBuilder {
public:
    KeyBuilder& u8(uint8_t v) {
        s_.push_back(static_cast<char>(v));
        return *this;
    }
    KeyBuilder& u32(uint32_t v) {
        put_u32be(s_, v);
        return *this;
    }
    KeyBuilder& u64(uint64_t v) {
        put_u64be(s_, v);
        return *this;
    }
    KeyBuilder& i32(int32_t v) { return u32(i32_key(v)); }
    KeyBuilder& i64(int64_t v) { return u64(i64_key(v)); }
    KeyBuilder& text(std::string_view v) {
        s_.append(v);
        return *this;
    }
    KeyBuilder& text0(std::string_view v) {
        s_.append(v);
        s_.push_back('\0');
        return *this;
    }
    const std::string& str() const { return s_; }
    std::string take() { return std::move(s_); }

private:
    std::string s_;
};

class Writer {
public:
    Writer& u8(uint8_t v) {
        s_.push_back(static_cast<char>(v));
        return *this;
    }
    Writer& u32(uint32_t v) {
        put_u32be(s_, v);
        return *this;
    }
    Writer& u64(uint64_t v) {
        put_u64be(s_, v);
        return *this;
    }
    Writer& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
    Writer& str(std::string_view v);  // u32 length + bytes
    const std::string& bytes() const { return s_; }
    std::string take() { return std::move(s_); }

private:
    std::string s_;
};

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    uint8_t u8();
    uint32_t u32();
    uint64_t u64();
    int64_t i64() { return static_cast<int64_t>(u64()); }
    std::string str();
    bool good() const { return ok_; }
    bool at_end() const { return pos_ == in_.size(); }

private:
    bool need(size_t n);
    std::string_view in_;
    size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace ses::store
