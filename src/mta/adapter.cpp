// adapter.cpp -- see adapter.hpp.
#include "mta/adapter.hpp"

#include <cctype>

#include "mta/postfix.hpp"
#include "mta/sendmail.hpp"
#include "warmup/records.hpp"

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

bool valid_queue_id(std::string_view qid) { return warmup::valid_queue_id(qid); }

std::unique_ptr<Adapter> make_adapter(const Settings& s) {
    if (s.kind == Kind::sendmail) return std::make_unique<SendmailAdapter>(s);
    return std::make_unique<PostfixAdapter>(s);
}

}  // namespace ses::mta
