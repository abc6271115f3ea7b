// canon.cpp -- see canon.hpp.
#include "dkim/canon.hpp"

#include <strings.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace ses::dkim {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// Octets that end a run of plain content: CR always (it may start a CRLF),
// and for relaxed the two WSP octets.
struct Specials {
    std::array<bool, 256> simple{}, relaxed{};
    Specials() {
        simple['\r'] = relaxed['\r'] = true;
        relaxed[' '] = relaxed['\t'] = true;
    }
};
const Specials kSpecials;

// Relaxed: the end of the run from p[i] (content) whose octets are
// canonical as they are: up to a CR, a tab, or a SP that starts a WSP run
// or ends the chunk (a single SP between content octets stays).  Eight
// octets at a time: a few instructions per octet, not a branch each.
static_assert(std::endian::native == std::endian::little, "relaxed_run reads octets as little-endian words");
size_t relaxed_run(const char* p, size_t i, size_t n) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL, kLow = 0x7f7f7f7f7f7f7f7fULL;
    // 0x80 in each byte of x that is zero, exactly (no false positives).
    auto zero_bytes = [](uint64_t x) { return ~(((x & kLow) + kLow) | x) & kHigh; };
    auto ends_sp = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    size_t k = i;
    for (; k + 8 <= n; k += 8) {
        uint64_t v;
        std::memcpy(&v, p + k, 8);
        const uint64_t sp = zero_bytes(v ^ (kOnes * ' '));
        const uint64_t other = zero_bytes(v ^ (kOnes * '\t')) | zero_bytes(v ^ (kOnes * '\r'));
        // Little-endian: >> 8 puts the next octet's mark on this one.
        uint64_t stop = other | (sp & ((sp | other) >> 8));
        if ((sp >> 63) && (k + 8 >= n || ends_sp(p[k + 8]))) stop |= 1ULL << 63;
        if (stop) return k + (static_cast<size_t>(__builtin_ctzll(stop)) >> 3);
    }
    for (; k < n; ++k) {
        const char c = p[k];
        if (c == '\r' || c == '\t') return k;
        if (c == ' ' && (k + 1 >= n || ends_sp(p[k + 1]))) return k;
    }
    return n;
}

}  // namespace

void canon_header(Canon c, std::string_view name, std::string_view value, std::string& out) {
    if (c == Canon::simple) {
        // As it travels: folded lines end in CRLF (the milter gives bare LF).
        out.reserve(out.size() + name.size() + value.size() + 8);
        out.append(name);
        out += ':';
        size_t from = 0;
        for (size_t lf = value.find('\n'); lf != std::string_view::npos; lf = value.find('\n', lf + 1)) {
            out.append(value.data() + from, lf - from);
            if (lf == 0 || value[lf - 1] != '\r') out += '\r';
            from = lf;
        }
        out.append(value.data() + from, value.size() - from);
        out += "\r\n";
        return;
    }
    // Relaxed: lower-case name, no WSP around the colon, unfolded, WSP runs
    // as one SP, none at either end of the value.
    size_t n = name.size();
    while (n > 0 && is_wsp(name[n - 1])) --n;
    for (size_t i = 0; i < n; ++i) {
        char ch = name[i];
        out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
    }
    out += ':';
    // Spans of content appended whole: a value is mostly words.
    bool pending = false, any = false;
    const char* v = value.data();
    const size_t len = value.size();
    for (size_t i = 0; i < len;) {
        const char ch = v[i];
        if (ch == '\r' || ch == '\n' || is_wsp(ch)) {
            pending = pending || (any && is_wsp(ch));
            ++i;
            continue;
        }
        size_t j = i + 1;
        while (j < len && v[j] != ' ' && v[j] != '\t' && v[j] != '\r' && v[j] != '\n') ++j;
        if (pending) out += ' ';
        pending = false;
        any = true;
        out.append(v + i, j - i);
        i = j;
    }
    out += "\r\n";
}

BodyCanon::BodyCanon(Canon c, Sink sink) : canon_(c), sink_(std::move(sink)) { out_.reserve(kSpan + 1024); }

void BodyCanon::drain() {
    if (!out_.empty()) sink_(out_);
    out_.clear();
}

void BodyCanon::emit(const char* p, size_t n) {
    out_.append(p, n);
    length_ += n;
    if (out_.size() >= kSpan) drain();
}

// Content follows: the empty lines held back were not trailing, and a
// pending WSP run inside the line becomes one SP.
void BodyCanon::flush_pending() {
    for (; blank_lines_ > 0; --blank_lines_) emit("\r\n", 2);
    if (wsp_) emit(" ", 1);
    wsp_ = false;
    line_content_ = true;
}

void BodyCanon::end_line() {
    wsp_ = false;  // relaxed: WSP at the end of a line goes
    if (line_content_)
        emit("\r\n", 2);
    else
        ++blank_lines_;
    line_content_ = false;
}

void BodyCanon::feed(std::string_view chunk) {
    const auto& special = canon_ == Canon::relaxed ? kSpecials.relaxed : kSpecials.simple;
    const char* p = chunk.data();
    const size_t n = chunk.size();
    size_t i = 0;
    while (i < n) {
        if (cr_) {
            cr_ = false;
            if (p[i] == '\n') {
                end_line();
                ++i;
                continue;
            }
            flush_pending();
            emit("\r", 1);  // a bare CR is content
            continue;
        }
        size_t j = i;
        if (canon_ == Canon::simple) {
            const void* cr = std::memchr(p + i, '\r', n - i);
            j = cr ? static_cast<size_t>(static_cast<const char*>(cr) - p) : n;
        } else if (!special[static_cast<unsigned char>(p[i])]) {
            j = relaxed_run(p, i, n);
        }
        if (j > i) {
            flush_pending();
            emit(p + i, j - i);
            i = j;
            continue;
        }
        char c = p[i++];
        if (c == '\r')
            cr_ = true;
        else
            wsp_ = true;  // relaxed only: simple has no other special octet
    }
}

void BodyCanon::finish() {
    if (finished_) return;
    finished_ = true;
    if (cr_) {  // the body ends in a bare CR: content, on a line without CRLF
        cr_ = false;
        flush_pending();
        emit("\r", 1);
    }
    if (line_content_) end_line();  // the missing CRLF is added
    blank_lines_ = 0;               // trailing empty lines are not hashed
    if (length_ == 0 && canon_ == Canon::simple) emit("\r\n", 2);
    drain();
}

HeaderSelection select_headers(const std::vector<HeaderField>& fields, const std::vector<std::string>& sign,
                               const std::vector<std::string>& oversign) {
    auto same = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
    };
    auto listed = [&](std::string_view name) {
        for (auto& s : sign)
            if (same(s, name)) return true;
        return false;
    };
    HeaderSelection sel;
    std::vector<bool> used(fields.size(), false);
    auto take = [&](std::string_view name) {
        for (size_t k = fields.size(); k-- > 0;)
            if (!used[k] && same(fields[k].name, name)) {
                used[k] = true;
                sel.order.push_back(k);
                return;
            }
    };
    for (auto& f : fields)
        if (listed(f.name)) sel.names.emplace_back(f.name);
    for (auto& o : oversign) sel.names.push_back(o);
    for (auto& n : sel.names) take(n);
    return sel;
}

}  // namespace ses::dkim
