// canon.cpp -- see canon.hpp.
#include "dkim/canon.hpp"

#include <strings.h>

#include <array>

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
    bool pending = false, any = false;
    for (char ch : value) {
        if (ch == '\r' || ch == '\n') continue;
        if (is_wsp(ch)) {
            pending = any;
            continue;
        }
        if (pending) out += ' ';
        pending = false;
        any = true;
        out += ch;
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
        while (j < n && !special[static_cast<unsigned char>(p[j])]) ++j;
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
