// encoding.cpp -- see encoding.hpp.  Table-driven: one encoder and one
// decoder for the 6-bit alphabets, one pair for base32.
#include "crypto/encoding.hpp"

#include <array>
#include <cstdint>

namespace ses::crypto {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kB32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kHex[] = "0123456789abcdef";

using Table = std::array<int8_t, 256>;

Table reverse(const char* alphabet, bool fold_case) {
    Table t;
    t.fill(-1);
    for (int i = 0; alphabet[i]; ++i) {
        auto c = static_cast<unsigned char>(alphabet[i]);
        t[c] = static_cast<int8_t>(i);
        if (fold_case && c >= 'A' && c <= 'Z') t[c - 'A' + 'a'] = static_cast<int8_t>(i);
        if (fold_case && c >= 'a' && c <= 'z') t[c - 'a' + 'A'] = static_cast<int8_t>(i);
    }
    return t;
}

std::string encode6(std::string_view in, const char* alphabet, bool pad) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                     static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                     static_cast<unsigned char>(in[i + 2]);
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    size_t rest = in.size() - i;
    if (rest) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        if (rest == 2) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        if (rest == 2) out += alphabet[(v >> 6) & 63];
        if (pad) out.append(rest == 1 ? 2 : 1, '=');
    }
    return out;
}

// `in` without whitespace (when allowed) and with its padding checked and
// removed; nullopt when the padding is misplaced or of the wrong length.
std::optional<std::string> unpad(std::string_view in, bool skip_space, size_t group) {
    std::string s;
    s.reserve(in.size());
    for (char c : in) {
        if (skip_space && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) continue;
        s += c;
    }
    size_t pad = s.find('=');
    if (pad == std::string::npos) return s;
    if (s.find_first_not_of('=', pad) != std::string::npos) return std::nullopt;  // data after padding
    if (s.size() % group != 0 || s.size() - pad >= group) return std::nullopt;
    s.resize(pad);
    return s;
}

std::optional<std::string> decode6(std::string_view in, const Table& t, bool skip_space) {
    auto s = unpad(in, skip_space, 4);
    if (!s || s->size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(s->size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : *s) {
        int v = t[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // Non-zero trailing bits ("QR==") are tolerated, as MIME decoders do.
    return out;
}

}  // namespace

std::string base64_encode(std::string_view in) { return encode6(in, kB64, true); }
std::string base64url_encode(std::string_view in, bool pad) { return encode6(in, kB64Url, pad); }

std::optional<std::string> base64_decode(std::string_view in) {
    static const Table t = reverse(kB64, false);
    // MIME and PEM base64 comes in whole 4-character groups.
    size_t n = 0;
    for (char c : in) n += !(c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if (n % 4) return std::nullopt;
    return decode6(in, t, true);
}

std::optional<std::string> base64url_decode(std::string_view in) {
    static const Table t = reverse(kB64Url, false);
    return decode6(in, t, false);
}

std::string base32_encode(std::string_view in, bool pad) {
    std::string out;
    out.reserve((in.size() + 4) / 5 * 8);
    uint64_t acc = 0;
    int bits = 0;
    for (char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out += kB32[(acc >> bits) & 31];
        }
    }
    if (bits > 0) out += kB32[(acc << (5 - bits)) & 31];
    if (pad)
        while (out.size() % 8) out += '=';
    return out;
}

std::optional<std::string> base32_decode(std::string_view in) {
    static const Table t = reverse(kB32, true);
    auto s = unpad(in, false, 8);
    if (!s) return std::nullopt;
    // Valid unpadded lengths mod 8: 0, 2, 4, 5, 7.
    switch (s->size() % 8) {
        case 1:
        case 3:
        case 6:
            return std::nullopt;
        default:
            break;
    }
    std::string out;
    out.reserve(s->size() * 5 / 8);
    uint64_t acc = 0;
    int bits = 0;
    for (char c : *s) {
        int v = t[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        acc = (acc << 5) | static_cast<uint64_t>(v);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if (acc & ((1ull << bits) - 1)) return std::nullopt;
    return out;
}

std::string hex_encode(std::string_view in) {
    std::string out;
    out.reserve(in.size() * 2);
    for (unsigned char c : in) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

std::optional<std::string> hex_decode(std::string_view in) {
    static const Table t = reverse(kHex, true);
    if (in.size() % 2) return std::nullopt;
    std::string out;
    out.reserve(in.size() / 2);
    for (size_t i = 0; i < in.size(); i += 2) {
        int hi = t[static_cast<unsigned char>(in[i])], lo = t[static_cast<unsigned char>(in[i + 1])];
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi << 4 | lo);
    }
    return out;
}

}  // namespace ses::crypto
