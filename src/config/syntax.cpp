// syntax.cpp -- see syntax.hpp.
#include "config/syntax.hpp"

#include <cstdint>

namespace ses::config {
namespace {

constexpr size_t kShownMax = 80;

bool is_ldh(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

std::string port_problem(std::string_view port) {
    if (port.empty()) return "no port";
    uint32_t v = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return "port " + quoted(port) + " is not a number";
        v = v * 10 + static_cast<uint32_t>(c - '0');
        if (v > 65535) break;
    }
    if (v < 1 || v > 65535) return "port " + quoted(port) + " is not between 1 and 65535";
    return {};
}

}  // namespace

std::string quoted(std::string_view value) {
    static const char* hex = "0123456789abcdef";
    std::string out = "\"";
    size_t n = value.size() > kShownMax ? kShownMax : value.size();
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(value[i]);
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            }
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    if (value.size() > kShownMax) out += "... (" + std::to_string(value.size()) + " bytes)";
    return out;
}

std::string dns_name_problem(std::string_view name) {
    if (name.empty()) return "empty name";
    if (name.size() > 253) return "longer than 253 bytes";
    size_t start = 0;
    while (true) {
        size_t dot = name.find('.', start);
        std::string_view label =
            name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty()) return "empty label (two dots, or a dot at an end)";
        if (label.size() > 63) return "label longer than 63 bytes";
        for (char c : label)
            if (!is_ldh(c))
                return "label " + quoted(label) + " has a character other than letters, digits and '-'" +
                       (static_cast<unsigned char>(c) >= 0x80 ? " (write an internationalized name as its xn-- form)"
                                                              : "");
        if (label.front() == '-' || label.back() == '-') return "label " + quoted(label) + " starts or ends with '-'";
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return {};
}

std::string socket_problem(std::string_view spec) {
    auto colon = spec.find(':');
    if (colon == std::string_view::npos) return "no scheme (unix:, inet: or inet6:)";
    std::string_view scheme = spec.substr(0, colon), rest = spec.substr(colon + 1);
    if (scheme == "unix" || scheme == "local") {
        if (rest.empty() || rest.front() != '/') return "the socket path must be absolute";
        return {};
    }
    if (scheme != "inet" && scheme != "inet6") return "unknown scheme " + quoted(scheme);
    auto at = rest.find('@');
    if (auto p = port_problem(rest.substr(0, at)); !p.empty()) return p;
    if (at != std::string_view::npos) {
        std::string_view addr = rest.substr(at + 1);
        if (addr.empty()) return "no address after '@'";
        if (scheme == "inet6") {
            for (char c : addr)
                if (!(is_ldh(c) || c == ':' || c == '.' || c == '[' || c == ']' || c == '%'))
                    return "address " + quoted(addr) + " is neither an IPv6 address nor a host name";
        } else {
            bool numeric = true;
            for (char c : addr) numeric = numeric && ((c >= '0' && c <= '9') || c == '.');
            if (!numeric) {
                if (auto p = dns_name_problem(addr); !p.empty())
                    return "address " + quoted(addr) + " is neither an IPv4 address nor a host name";
            } else {
                int parts = 1;
                uint32_t part = 0;
                bool empty = true;
                for (char c : addr) {
                    if (c == '.') {
                        if (empty) return "address " + quoted(addr) + " is not an IPv4 address";
                        ++parts;
                        part = 0;
                        empty = true;
                    } else {
                        part = part * 10 + static_cast<uint32_t>(c - '0');
                        empty = false;
                        if (part > 255) return "address " + quoted(addr) + " is not an IPv4 address";
                    }
                }
                if (parts != 4 || empty) return "address " + quoted(addr) + " is not an IPv4 address";
            }
        }
    }
    return {};
}

}  // namespace ses::config
