// address.cpp -- see address.hpp.
#include "mail/address.hpp"

#include <gmime/gmime.h>

#include <mutex>

#include "util/strings.hpp"

namespace ses::mail {
namespace {

void collect(InternetAddressList* list, std::vector<std::string>& out) {
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; ++i) {
        InternetAddress* ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char* a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            if (a && *a) out.emplace_back(a);
        } else if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            collect(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out);
        }
    }
}

}  // namespace

void init() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

std::vector<std::string> mailboxes(std::string_view header_value) {
    // The same From value is parsed by four stages of one message (header
    // checks, identity, signing domain, records), all in one milter callback
    // and so on one thread; GMime's parse and its GObject teardown cost a few
    // microseconds each time (bench/profile.py, docs/PERFORMANCE.md #16).
    // The last result per thread is kept: a pure function of its input, so
    // a hit returns exactly what the parse would.
    thread_local std::string last_in;
    thread_local std::vector<std::string> last_out;
    thread_local bool have_last = false;
    if (have_last && header_value == last_in) return last_out;
    init();
    std::vector<std::string> out;
    std::string v(header_value);
    InternetAddressList* list = internet_address_list_parse(nullptr, v.c_str());
    if (list) {
        collect(list, out);
        g_object_unref(list);
    }
    last_in = std::move(v);
    last_out = out;
    have_last = true;
    return out;
}

std::string domain_of(std::string_view addr) {
    addr = strip_brackets(str::trim(addr));
    auto at = addr.rfind('@');
    if (at == std::string_view::npos || at + 1 == addr.size()) return {};
    return str::lower(addr.substr(at + 1));
}

std::string_view strip_brackets(std::string_view addr) {
    if (addr.size() >= 2 && addr.front() == '<' && addr.back() == '>') return addr.substr(1, addr.size() - 2);
    return addr;
}

}  // namespace ses::mail
