// header_check.cpp -- see header_check.hpp.
#include "mail/header_check.hpp"

#include "mail/address.hpp"
#include "mail/replies.hpp"

namespace ses::mail {
namespace {

Error malformed(const std::string& why) { return error_for(ReplyReason::malformed_message, why); }

// RFC 5322 section 3.6: fields that may occur at most once.
constexpr std::string_view kSingletons[] = {"From",       "Sender",      "Reply-To",   "To",      "Cc",  "Bcc",
                                            "Message-ID", "In-Reply-To", "References", "Subject", "Date"};

}  // namespace

Status check_headers(const Message& msg) {
    for (auto& h : msg.headers()) {
        if (h.name.empty()) return malformed("empty header field name");
        for (unsigned char c : h.name)
            if (c < 33 || c > 126 || c == ':') return malformed("invalid character in header field name");
        size_t line = h.name.size() + 1;
        for (char c : h.value) {
            if (c == '\n') {
                line = 0;
                continue;
            }
            if (++line > 998) return malformed(h.name + ": header line longer than 998 bytes");
        }
    }
    for (auto name : kSingletons) {
        int n = msg.count(name);
        if (n > 1)
            return malformed(std::to_string(n) + " " + std::string(name) + ": header fields (at most one allowed)");
    }
    auto from = msg.value("From");
    if (!from) return malformed("no From: header field");
    auto boxes = mailboxes(*from);
    if (boxes.empty() || domain_of(boxes.front()).empty())
        return malformed("From: header field names no mailbox with a domain");
    return ok_status();
}

}  // namespace ses::mail
