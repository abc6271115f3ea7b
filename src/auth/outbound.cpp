// outbound.cpp -- see outbound.hpp.
#include "auth/outbound.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "util/strings.hpp"

namespace ses::auth {

namespace {

struct Addr {
    int family = 0;  // AF_INET / AF_INET6
    unsigned char b[16] = {};
};

std::optional<Addr> parse_addr(std::string_view s) {
    std::string t(str::trim(s));
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
    if (str::lower(t.substr(0, 5)) == "ipv6:") t = t.substr(5);
    Addr a;
    if (inet_pton(AF_INET, t.c_str(), a.b) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (inet_pton(AF_INET6, t.c_str(), a.b) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(a.b, mapped, 12) == 0) {
            std::memmove(a.b, a.b + 12, 4);
            std::memset(a.b + 4, 0, 12);
            a.family = AF_INET;
        } else {
            a.family = AF_INET6;
        }
        return a;
    }
    return std::nullopt;
}

struct Net {
    Addr addr;
    int bits = 0;
};

std::optional<Net> parse_net(std::string_view cidr, std::string* why = nullptr) {
    auto slash = cidr.find('/');
    auto a = parse_addr(cidr.substr(0, slash));
    if (!a) {
        if (why) *why = "not an IP address: '" + std::string(cidr.substr(0, slash)) + "'";
        return std::nullopt;
    }
    int max = a->family == AF_INET ? 32 : 128;
    int bits = max;
    if (slash != std::string_view::npos) {
        std::string_view b = cidr.substr(slash + 1);
        if (b.empty() || b.size() > 3) {
            if (why) *why = "bad prefix length in '" + std::string(cidr) + "'";
            return std::nullopt;
        }
        bits = 0;
        for (char c : b) {
            if (c < '0' || c > '9') {
                if (why) *why = "bad prefix length in '" + std::string(cidr) + "'";
                return std::nullopt;
            }
            bits = bits * 10 + (c - '0');
        }
        if (bits > max) {
            if (why) *why = "prefix length over " + std::to_string(max) + " in '" + std::string(cidr) + "'";
            return std::nullopt;
        }
    }
    return Net{*a, bits};
}

}  // namespace

bool cidr_contains(std::string_view cidr, std::string_view ip) {
    auto n = parse_net(cidr);
    auto a = parse_addr(ip);
    if (!n || !a || n->addr.family != a->family) return false;
    int bits = n->bits;
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((n->addr.b[i] & mask) != (a->b[i] & mask)) return false;
    }
    return true;
}

std::optional<std::string> check_cidr(std::string_view cidr) {
    std::string why;
    if (parse_net(cidr, &why)) return std::nullopt;
    return why;
}

OutboundDecision classify_outbound(const mail::Envelope& env, const OutboundSettings& s) {
    if (s.authenticated && !env.auth_user.empty()) return {true, "SASL user " + env.auth_user};
    for (auto& d : s.daemons)
        if (!env.daemon_name.empty() && env.daemon_name == d) return {true, "daemon " + d};
    if (!env.client_addr.empty())
        for (auto& n : s.networks)
            if (cidr_contains(n, env.client_addr)) return {true, "client " + env.client_addr + " in " + n};
    return {false, "inbound"};
}

}  // namespace ses::auth
