// authentication_results.cpp -- see authentication_results.hpp.
#include "auth/authentication_results.hpp"

#include <cctype>

namespace ses::auth {

namespace {

// RFC 2045 token characters.
bool token_char(unsigned char c) {
    if (c <= 32 || c >= 127) return false;
    static const std::string_view tspecials = "()<>@,;:\\\"/[]?=";
    return tspecials.find(static_cast<char>(c)) == std::string_view::npos;
}

// RFC 5322 atext (for dot-atom local parts and domains).
bool atext(unsigned char c) {
    if (std::isalnum(c)) return true;
    static const std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '.') {
            if (s[i - 1] == '.') return false;
        } else if (!atext(c)) {
            return false;
        }
    }
    return true;
}

std::string clean(std::string_view s) {
    std::string out;
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u < 32 || u == 127) {
            if (!out.empty() && out.back() != ' ') out += ' ';
            continue;
        }
        out += c;
    }
    return out;
}

// Skip CFWS: whitespace and (possibly nested) comments.
size_t skip_cfws(std::string_view v, size_t i) {
    while (i < v.size()) {
        char c = v[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++i;
        } else if (c == '(') {
            int depth = 0;
            for (; i < v.size(); ++i) {
                if (v[i] == '\\') {
                    ++i;
                    continue;
                }
                if (v[i] == '(') ++depth;
                if (v[i] == ')' && --depth == 0) {
                    ++i;
                    break;
                }
            }
        } else {
            break;
        }
    }
    return i;
}

}  // namespace

std::string property_value(std::string_view v) {
    std::string s = clean(v);
    if (s.empty()) return "\"\"";
    bool token = true;
    for (unsigned char c : s) token = token && token_char(c);
    if (token) return s;
    auto at = s.rfind('@');
    if (at != std::string::npos) {
        std::string_view local = std::string_view(s).substr(0, at);
        std::string_view domain = std::string_view(s).substr(at + 1);
        if ((local.empty() || dot_atom(local)) && dot_atom(domain)) return s;
    }
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + "\"";
}

std::string comment(std::string_view text) {
    std::string out = "(";
    for (char c : clean(text)) {
        if (c == '(' || c == ')' || c == '\\') out += '\\';
        out += c;
    }
    return out + ")";
}

std::string format_authentication_results(std::string_view id, const std::vector<MethodResult>& results) {
    std::string out = property_value(id);
    out += ";";
    if (results.empty()) return out + " none";
    for (size_t i = 0; i < results.size(); ++i) {
        const MethodResult& r = results[i];
        out += "\n\t";
        out += clean(r.method) + "=" + clean(r.result);
        if (!r.comment.empty()) out += " " + comment(r.comment);
        for (auto& [k, v] : r.props) out += " " + clean(k) + "=" + property_value(v);
        if (i + 1 < results.size()) out += ";";
    }
    return out;
}

std::optional<std::string> authserv_id(std::string_view v) {
    size_t i = skip_cfws(v, 0);
    if (i >= v.size()) return std::nullopt;
    std::string id;
    if (v[i] == '"') {
        for (++i; i < v.size() && v[i] != '"'; ++i) {
            if (v[i] == '\\' && i + 1 < v.size()) ++i;
            id += v[i];
        }
        if (i >= v.size()) return std::nullopt;
    } else {
        // A token; '@' and ':' can appear in host-like ids, so stop only at
        // CFWS, ';' and the start of a comment.
        for (; i < v.size(); ++i) {
            char c = v[i];
            if (c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(') break;
            id += c;
        }
    }
    if (id.empty()) return std::nullopt;
    return id;
}

}  // namespace ses::auth
