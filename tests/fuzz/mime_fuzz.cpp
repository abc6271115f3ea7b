// mime_fuzz.cpp -- libFuzzer target: the header and address parsing the
// milter runs on every message (src/mail/).
//
// The input is split at the first NUL: before it a header block as the MTA
// would hand it over (lines "Name: value", continuation lines folded into
// the previous field, the first empty line ends it), after it the envelope
// sender.  Each run feeds the fields into a mail::Message, runs the header
// checks, extracts the mailboxes and domains of every address field (GMime),
// and applies the edits the pipeline makes.  Crashes, sanitizer reports and
// a broken invariant (abort) are findings.
//
//   make fuzz && build/fuzz/mime_fuzz -max_total_time=60 -max_len=65536 CORPUS tests/data/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/address.hpp"
#include "mail/header_check.hpp"
#include "mail/message.hpp"

using namespace ses;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void check_domain(const std::string& d) {
    for (char c : d) check(!(c >= 'A' && c <= 'Z'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static bool once = (mail::init(), true);
    (void)once;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    size_t nul = in.find('\0');
    std::string_view block = in.substr(0, nul);
    std::string_view sender = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);

    mail::Message msg;
    std::string name, value;
    bool have = false;
    size_t pos = 0;
    while (pos < block.size()) {
        size_t eol = block.find('\n', pos);
        std::string_view line = block.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = eol == std::string_view::npos ? block.size() : eol + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            msg.feed_body(block.substr(pos));
            break;
        }
        if ((line[0] == ' ' || line[0] == '\t') && have) {
            value += "\r\n";
            value += line;
            continue;
        }
        if (have) msg.feed_header(std::move(name), std::move(value));
        size_t colon = line.find(':');
        name = std::string(line.substr(0, colon));
        value = colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1));
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        have = true;
    }
    if (have) msg.feed_header(std::move(name), std::move(value));

    auto st = mail::check_headers(msg);
    if (!st) check(!st.error().what.empty());

    for (const char* field : {"From", "Sender", "Reply-To", "To", "Cc", "Resent-From"}) {
        int n = msg.count(field);
        for (int i = 1; i <= n; ++i) {
            const auto* h = msg.find(field, i);
            check(h != nullptr);
            for (auto& box : mail::mailboxes(h->value)) check_domain(mail::domain_of(box));
        }
        if (auto v = msg.value(field)) {
            check(v->find("\r\n") == std::string::npos);
            (void)mail::mailboxes(*v);
        }
    }
    std::string env(mail::strip_brackets(sender));
    check_domain(mail::domain_of(env));
    (void)mail::unfold(block);

    // The edits the pipeline makes, on whatever the fields turned out to be.
    size_t before = msg.headers().size();
    msg.insert_header(0, "Authentication-Results", "fuzz; none");
    msg.add_header("X-Fuzz", std::string(sender));
    if (msg.count("Subject")) msg.change_header("Subject", 1, "changed");
    msg.delete_all("X-SES-Template");
    msg.delete_header("Received", 1);
    check(!msg.edits().empty());
    (void)before;
    (void)msg.size();
    return 0;
}
