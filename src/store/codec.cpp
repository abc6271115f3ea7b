// codec.cpp -- see codec.hpp.
#include "store/codec.hpp"

namespace ses::store {

void put_u32be(std::string& out, uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64be(std::string& out, uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32be(std::string_view in, size_t pos) {
    if (pos + 4 > in.size()) return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[pos + i]);
    return v;
}

uint64_t get_u64be(std::string_view in, size_t pos) {
    if (pos + 8 > in.size()) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[pos + i]);
    return v;
}

Writer& Writer::str(std::string_view v) {
    u32(static_cast<uint32_t>(v.size()));
    s_.append(v);
    return *this;
}

bool Reader::need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
        ok_ = false;
        return false;
    }
    return true;
}

uint8_t Reader::u8() {
    if (!need(1)) return 0;
    return static_cast<unsigned char>(in_[pos_++]);
}

uint32_t Reader::u32() {
    if (!need(4)) return 0;
    uint32_t v = get_u32be(in_, pos_);
    pos_ += 4;
    return v;
}

uint64_t Reader::u64() {
    if (!need(8)) return 0;
    uint64_t v = get_u64be(in_, pos_);
    pos_ += 8;
    return v;
}

std::string Reader::str() {
    uint32_t n = u32();
    if (!need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
}

}  // namespace ses::store
