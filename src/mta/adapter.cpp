// adapter.cpp -- see adapter.hpp.
#include "mta/adapter.hpp"

#include <cctype>

#include "mta/postfix.hpp"
#include "mta/sendmail.hpp"

namespace ses::mta {

bool parse_kind(std::string_view s, Kind& out) {
    if (s == "postfix")
        out = Kind::postfix;
    else if (s == "sendmail")
        out = Kind::sendmail;
    else
        return false;
    return true;
}

std::string_view kind_name(Kind k) { return k == Kind::sendmail ? "sendmail" : "postfix"; }

bool valid_queue_id(std::string_view qid) {
    if (qid.size() < 5 || qid.size() > 32 || qid == "ALL") return false;
    for (char c : qid)
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
    return true;
}

std::optional<int64_t> parse_postfix_time(std::string_view v, char unit) {
    if (v.empty()) return std::nullopt;
    int64_t n = 0;
    size_t i = 0;
    for (; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) {
        if (n > (INT64_MAX / 604800 - 9) / 10) return std::nullopt;
        n = n * 10 + (v[i] - '0');
    }
    if (i == 0 || i + 1 < v.size()) return std::nullopt;
    char u = i < v.size() ? v[i] : unit;
    switch (u) {
        case 's':
            return n;
        case 'm':
            return n * 60;
        case 'h':
            return n * 3600;
        case 'd':
            return n * 86400;
        case 'w':
            return n * 604800;
    }
    return std::nullopt;
}

std::unique_ptr<Adapter> make_adapter(const Settings& s) {
    if (s.kind == Kind::sendmail) return std::make_unique<SendmailAdapter>(s);
    return std::make_unique<PostfixAdapter>(s);
}

}  // namespace ses::mta
