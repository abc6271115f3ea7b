// answer.cpp -- see answer.hpp.
#include "dns/answer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>

#include <cstdio>

namespace ses::dns {

std::string_view rcode_name(Rcode r) {
    switch (r) {
        case Rcode::ok:
            return "ok";
        case Rcode::nxdomain:
            return "nxdomain";
        case Rcode::nodata:
            return "nodata";
        case Rcode::temperror:
            return "temperror";
    }
    return "temperror";
}

std::string_view type_name(uint16_t type) {
    switch (type) {
        case rr::A:
            return "A";
        case rr::NS:
            return "NS";
        case rr::CNAME:
            return "CNAME";
        case rr::SOA:
            return "SOA";
        case rr::PTR:
            return "PTR";
        case rr::MX:
            return "MX";
        case rr::TXT:
            return "TXT";
        case rr::AAAA:
            return "AAAA";
        case rr::SPF:
            return "SPF";
    }
    return "TYPE?";
}

Rcode classify(int ub_err, int rcode, bool havedata, bool bogus) {
    if (ub_err != 0) return Rcode::temperror;
    if (bogus) return Rcode::temperror;  // RFC 4035: a bogus answer is SERVFAIL
    if (rcode == 3) return Rcode::nxdomain;
    if (rcode != 0) return Rcode::temperror;  // SERVFAIL, REFUSED, FORMERR, ...
    return havedata ? Rcode::ok : Rcode::nodata;
}

namespace {

std::optional<std::string> expand_name(std::string_view rdata, size_t off, size_t* used = nullptr) {
    if (off >= rdata.size()) return std::nullopt;
    char buf[NS_MAXDNAME];
    auto* msg = reinterpret_cast<const unsigned char*>(rdata.data());
    int n = dn_expand(msg, msg + rdata.size(), msg + off, buf, sizeof buf);
    if (n < 0) return std::nullopt;
    if (used) *used = static_cast<size_t>(n);
    std::string s(buf);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

}  // namespace

std::optional<std::string> decode_rdata(uint16_t type, std::string_view rdata) {
    switch (type) {
        case rr::A: {
            if (rdata.size() != 4) return std::nullopt;
            char buf[INET_ADDRSTRLEN];
            if (!inet_ntop(AF_INET, rdata.data(), buf, sizeof buf)) return std::nullopt;
            return std::string(buf);
        }
        case rr::AAAA: {
            if (rdata.size() != 16) return std::nullopt;
            char buf[INET6_ADDRSTRLEN];
            if (!inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf)) return std::nullopt;
            return std::string(buf);
        }
        case rr::TXT:
        case rr::SPF: {
            // One or more <length><bytes> character-strings, concatenated
            // (RFC 7208 3.3, RFC 6376 3.6.2.2).
            std::string out;
            size_t i = 0;
            while (i < rdata.size()) {
                size_t len = static_cast<unsigned char>(rdata[i]);
                if (i + 1 + len > rdata.size()) return std::nullopt;
                out.append(rdata.substr(i + 1, len));
                i += 1 + len;
            }
            return out;
        }
        case rr::MX: {
            if (rdata.size() < 3) return std::nullopt;
            unsigned pref = (static_cast<unsigned char>(rdata[0]) << 8) | static_cast<unsigned char>(rdata[1]);
            auto host = expand_name(rdata, 2);
            if (!host) return std::nullopt;
            return std::to_string(pref) + " " + *host;
        }
        case rr::PTR:
        case rr::CNAME:
        case rr::NS:
            return expand_name(rdata, 0);
    }
    return std::nullopt;
}

bool valid_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return false;
    size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (c == '\0') {
            return false;
        } else if (++label > 63) {
            return false;
        }
    }
    return label > 0;
}

std::string reverse_name(std::string_view ip) {
    std::string s(ip);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
        char out[64];
        std::snprintf(out, sizeof out, "%u.%u.%u.%u.in-addr.arpa", buf[3], buf[2], buf[1], buf[0]);
        return out;
    }
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        static const char hex[] = "0123456789abcdef";
        std::string out;
        for (int i = 15; i >= 0; --i) {
            out += hex[buf[i] & 0xf];
            out += '.';
            out += hex[buf[i] >> 4];
            out += '.';
        }
        return out + "ip6.arpa";
    }
    return {};
}

Answer Lookup::ptr(std::string_view ip) const {
    std::string name = reverse_name(ip);
    if (name.empty()) {
        Answer a;
        a.rcode = Rcode::nxdomain;
        a.why = "not an IP address";
        return a;
    }
    return query(name, rr::PTR);
}

}  // namespace ses::dns
