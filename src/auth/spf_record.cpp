// spf_record.cpp -- see spf_record.hpp.  The grammar is RFC 7208 section 12.
#include "auth/spf_record.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <vector>

#include "util/strings.hpp"

namespace ses::auth::spf_record {

namespace {

bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool alnum(char c) { return alpha(c) || digit(c); }

// macro-literal = %x21-24 / %x26-7E
bool macro_literal(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && u != 0x25;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool toplabel(std::string_view t) {
    if (t.empty()) return false;
    bool has_alpha = false, has_hyphen = false;
    for (char c : t) {
        if (c == '-')
            has_hyphen = true;
        else if (alpha(c))
            has_alpha = true;
        else if (!digit(c))
            return false;
    }
    if (!has_hyphen) return has_alpha;
    return alnum(t.front()) && alnum(t.back());
}

// Parse a macro-string.  Sets *ends_with_macro when the last item is a
// macro-expand.  allow_crt: the c, r and t letters (exp text only).
bool macro_string(std::string_view s, bool allow_crt, bool* ends_with_macro, std::string* why) {
    bool last_macro = false;
    for (size_t i = 0; i < s.size();) {
        char c = s[i];
        if (c != '%') {
            if (!macro_literal(c)) {
                *why = "invalid character in '" + std::string(s) + "'";
                return false;
            }
            last_macro = false;
            ++i;
            continue;
        }
        if (i + 1 >= s.size()) {
            *why = "'%' at the end of '" + std::string(s) + "'";
            return false;
        }
        char n = s[i + 1];
        if (n == '%' || n == '_' || n == '-') {
            last_macro = true;
            i += 2;
            continue;
        }
        if (n != '{') {
            *why = "invalid macro '%" + std::string(1, n) + "' in '" + std::string(s) + "'";
            return false;
        }
        size_t j = i + 2;
        if (j >= s.size()) {
            *why = "unterminated macro in '" + std::string(s) + "'";
            return false;
        }
        char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
        static const std::string_view letters = "slodiphcrtv";
        if (letters.find(letter) == std::string_view::npos) {
            *why = "unknown macro letter '" + std::string(1, s[j]) + "' in '" + std::string(s) + "'";
            return false;
        }
        if (!allow_crt && (letter == 'c' || letter == 'r' || letter == 't')) {
            *why = "macro %{" + std::string(1, s[j]) + "} is allowed only in explanation text";
            return false;
        }
        ++j;
        size_t d0 = j;
        while (j < s.size() && digit(s[j])) ++j;
        if (j > d0) {
            std::string_view num = s.substr(d0, j - d0);
            bool zero = true;
            for (char x : num) zero = zero && x == '0';
            if (zero || num.size() > 3) {
                *why = "invalid macro transformer in '" + std::string(s) + "'";
                return false;
            }
        }
        if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) ++j;
        static const std::string_view delims = ".-+,/_=";
        while (j < s.size() && delims.find(s[j]) != std::string_view::npos) ++j;
        if (j >= s.size() || s[j] != '}') {
            *why = "malformed macro in '" + std::string(s) + "'";
            return false;
        }
        i = j + 1;
        last_macro = true;
    }
    if (ends_with_macro) *ends_with_macro = last_macro;
    return true;
}

// domain-spec = macro-string domain-end
// domain-end  = ( "." toplabel [ "." ] ) / macro-expand
bool domain_spec(std::string_view s, bool allow_crt, std::string* why) {
    if (s.empty()) {
        *why = "empty domain-spec";
        return false;
    }
    bool ends_macro = false;
    if (!macro_string(s, allow_crt, &ends_macro, why)) return false;
    if (ends_macro) return true;
    // The literal text after the last macro.
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') continue;
        if (i + 1 < s.size() && s[i + 1] == '{') {
            size_t close = s.find('}', i);
            start = close + 1;
            i = close;
        } else {
            start = i + 2;
            ++i;
        }
    }
    std::string_view tail = s.substr(std::min(start, s.size()));
    if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
    auto dot = tail.rfind('.');
    if (dot == std::string_view::npos || !toplabel(tail.substr(dot + 1))) {
        *why = "'" + std::string(s) + "' is not a valid domain (RFC 7208 domain-end)";
        return false;
    }
    return true;
}

// "/" ("0" / %x31-39 0*1DIGIT) (ip4, max 32) or 0*2DIGIT (ip6, max 128)
bool cidr_number(std::string_view n, int max, int* out) {
    if (n.empty() || n.size() > 3) return false;
    for (char c : n)
        if (!digit(c)) return false;
    if (n.size() > 1 && n[0] == '0') return false;
    int v = 0;
    for (char c : n) v = v * 10 + (c - '0');
    if (v > max) return false;
    *out = v;
    return true;
}

struct Term {
    char qualifier = 0;  // 0 = none written
    std::string text;    // as it will be written, without the qualifier
};

std::string join(const std::vector<Term>& terms) {
    std::string out = "v=spf1";
    for (auto& t : terms) {
        out += ' ';
        if (t.qualifier) out += t.qualifier;
        out += t.text;
    }
    return out;
}

Normalized fail(std::string why) {
    Normalized n;
    n.error = std::move(why);
    return n;
}

std::string strip_dot(std::string_view d) {
    std::string s(d);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

}  // namespace

Normalized normalize(std::string_view rec, bool client_ipv6) {
    for (char c : rec) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e) return fail("non-ASCII or control character in the SPF record");
    }
    std::vector<std::string> tokens;
    for (auto& t : str::split(rec, ' '))
        if (!t.empty()) tokens.push_back(t);
    if (tokens.empty() || !str::iequals(tokens[0], "v=spf1")) return fail("not an SPF record");

    std::vector<Term> out;
    std::optional<std::string> redirect;
    bool has_exp = false, has_all = false;
    std::string why;

    for (size_t k = 1; k < tokens.size(); ++k) {
        const std::string& tok = tokens[k];
        // modifier = name "=" macro-string;  name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        size_t n = 0;
        if (alpha(tok[0])) {
            n = 1;
            while (n < tok.size() && (alnum(tok[n]) || tok[n] == '-' || tok[n] == '_' || tok[n] == '.')) ++n;
        }
        if (n > 0 && n < tok.size() && tok[n] == '=') {
            std::string name = str::lower(std::string_view(tok).substr(0, n));
            std::string_view value = std::string_view(tok).substr(n + 1);
            if (name == "redirect") {
                if (redirect) return fail("redirect= appears more than once");
                if (!domain_spec(value, false, &why)) return fail("redirect=: " + why);
                redirect = std::string(value);
            } else if (name == "exp") {
                if (has_exp) return fail("exp= appears more than once");
                if (!domain_spec(value, false, &why)) return fail("exp=: " + why);
                has_exp = true;
                out.push_back({0, "exp=" + std::string(value)});
            } else if (!macro_string(value, true, nullptr, &why)) {
                return fail("modifier " + name + "=: " + why);
            }
            // Unknown modifiers are checked, then dropped.
            continue;
        }

        Term t;
        std::string_view d = tok;
        if (d[0] == '+' || d[0] == '-' || d[0] == '?' || d[0] == '~') {
            t.qualifier = d[0];
            d.remove_prefix(1);
        }
        size_t m = 0;
        while (m < d.size() && alnum(d[m])) ++m;
        std::string mech = str::lower(d.substr(0, m));
        std::string_view rest = d.substr(m);
        if (mech == "all") {
            if (!rest.empty()) return fail("invalid 'all' mechanism '" + tok + "'");
            has_all = true;
            t.text = "all";
        } else if (mech == "include" || mech == "exists") {
            if (rest.empty() || rest[0] != ':') return fail(mech + " needs a domain: '" + tok + "'");
            if (!domain_spec(rest.substr(1), false, &why)) return fail(mech + ": " + why);
            t.text = mech + std::string(rest);
        } else if (mech == "ptr") {
            if (!rest.empty()) {
                if (rest[0] != ':') return fail("invalid ptr mechanism '" + tok + "'");
                if (!domain_spec(rest.substr(1), false, &why)) return fail("ptr: " + why);
            }
            t.text = "ptr" + std::string(rest);
        } else if (mech == "a" || mech == "mx") {
            // [ ":" domain-spec ] [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
            // The domain-spec may itself hold '/' and ':', so the CIDR
            // lengths are the digits at the very end.
            std::string_view head = rest, c4, c6;
            bool have4 = false, have6 = false;
            auto trailing_digits = [](std::string_view s) {
                size_t i = s.size();
                while (i > 0 && digit(s[i - 1])) --i;
                return i;
            };
            size_t i = trailing_digits(head);
            if (i < head.size() && i >= 2 && head[i - 1] == '/' && head[i - 2] == '/') {
                c6 = head.substr(i);
                have6 = true;
                head = head.substr(0, i - 2);
                i = trailing_digits(head);
            }
            if (i < head.size() && i >= 1 && head[i - 1] == '/') {
                c4 = head.substr(i);
                have4 = true;
                head = head.substr(0, i - 1);
            }
            std::string_view spec;
            if (!head.empty()) {
                if (head[0] != ':') return fail("invalid " + mech + " mechanism '" + tok + "'");
                spec = head.substr(1);
                if (!domain_spec(spec, false, &why)) return fail(mech + ": " + why);
            }
            int v4 = 32, v6 = 128;
            if ((have4 && !cidr_number(c4, 32, &v4)) || (have6 && !cidr_number(c6, 128, &v6)))
                return fail("invalid CIDR length in '" + tok + "'");
            int applicable = client_ipv6 ? v6 : v4;
            if (applicable == 0) {
                std::string dom = spec.empty() ? "%{d}" : strip_dot(spec);
                t.text = "exists:" + dom + "._" + mech + (client_ipv6 ? "6" : "4") + std::string(kMarkerSuffix);
            } else {
                t.text = mech;
                if (!spec.empty()) t.text += ":" + std::string(spec);
                if (have4 && v4 != 0) t.text += "/" + std::string(c4);
                if (have6 && v6 != 0) t.text += "//" + std::string(c6);
            }
        } else if (mech == "ip4" || mech == "ip6") {
            if (rest.empty() || rest[0] != ':') return fail(mech + " needs an address: '" + tok + "'");
            std::string_view net = rest.substr(1);
            size_t slash = net.find('/');
            std::string addr(net.substr(0, slash));
            unsigned char buf[16];
            int fam = mech == "ip4" ? AF_INET : AF_INET6;
            if (inet_pton(fam, addr.c_str(), buf) != 1) return fail("invalid address in '" + tok + "'");
            int bits = fam == AF_INET ? 32 : 128;
            if (slash != std::string_view::npos && !cidr_number(net.substr(slash + 1), bits, &bits))
                return fail("invalid CIDR length in '" + tok + "'");
            if (bits == 0) {
                // libspf2 refuses /0: the same set as two halves.
                Term a = t, b = t;
                a.text = fam == AF_INET ? "ip4:0.0.0.0/1" : "ip6:::/1";
                b.text = fam == AF_INET ? "ip4:128.0.0.0/1" : "ip6:8000::/1";
                out.push_back(a);
                out.push_back(b);
                continue;
            }
            t.text = mech + std::string(rest);
        } else {
            return fail("unknown mechanism '" + tok + "'");
        }
        out.push_back(std::move(t));
    }
    // RFC 7208 6.1: redirect= applies after every mechanism, and not at all
    // when the record has an "all" mechanism.
    if (redirect && !has_all) out.push_back({0, "redirect=" + *redirect});
    Normalized r;
    r.ok = true;
    r.record = join(out);
    return r;
}

std::optional<Marker> marker_query(std::string_view name) {
    std::string n = str::lower(name);
    if (!n.empty() && n.back() == '.') n.pop_back();
    if (n.size() <= kMarkerSuffix.size() ||
        n.compare(n.size() - kMarkerSuffix.size(), kMarkerSuffix.size(), kMarkerSuffix) != 0)
        return std::nullopt;
    std::string head = n.substr(0, n.size() - kMarkerSuffix.size());
    auto dot = head.rfind('.');
    if (dot == std::string::npos) return std::nullopt;
    std::string kind = head.substr(dot + 1);
    if (kind != "_a4" && kind != "_a6" && kind != "_mx4" && kind != "_mx6") return std::nullopt;
    return Marker{head.substr(0, dot), kind.substr(1)};
}

std::string truncate_name(std::string_view name) {
    std::string n(name);
    bool dot = !n.empty() && n.back() == '.';
    if (dot) n.pop_back();
    while (n.size() > 253) {
        auto p = n.find('.');
        if (p == std::string::npos) break;
        n.erase(0, p + 1);
    }
    return n;
}

}  // namespace ses::auth::spf_record
