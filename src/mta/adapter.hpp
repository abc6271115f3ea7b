// adapter.hpp -- what sesmilter asks of the MTA about held mail.
//
// Holding happens in the milter: at end of message it calls
// smfi_quarantine, which puts the message into Postfix's hold queue or
// Sendmail's quarantine.  Releasing is done later, outside any SMTP session,
// by the MTA's own tools, behind this interface:
//   postfix   postsuper -c DIR -H QID, then postqueue -c DIR -i QID
//   sendmail  sendmail -C DIR/sendmail.cf -bp -qQ -qIQID (still quarantined?),
//             sendmail -C DIR/sendmail.cf -qQ -Q -qIQID (unquarantine), then
//             sendmail -C DIR/sendmail.cf -qIQID (a delivery attempt now)
// Tools run without a shell; a queue id must be letters and digits (and
// never "ALL", which postsuper reads as every message).  `command_prefix`
// is put in front of the privileged command (postsuper and the sendmail
// unquarantine run), for a daemon that is not root: e.g. ["sudo", "-n"].
//
// Errors: release() fails when the tool cannot run, exits non-zero or times
// out; the message then stays held and is tried again later.
// Thread safety: adapters are immutable; release() may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ses::mta {

enum class Kind { postfix, sendmail };
bool parse_kind(std::string_view s, Kind& out);  // "postfix" | "sendmail"
std::string_view kind_name(Kind k);

struct Settings {
    Kind kind = Kind::postfix;
    std::string config_directory = "/etc/postfix";  // postfix: -c DIR; sendmail: -C DIR/sendmail.cf
    std::vector<std::string> command_prefix;        // before postsuper / sendmail -Q, e.g. {"sudo", "-n"}
    std::string postsuper = "postsuper";
    std::string postqueue = "postqueue";
    std::string sendmail = "sendmail";
    int64_t command_timeout = 30;  // seconds
};

enum class Released {
    yes,       // back in the delivery queue
    not_held,  // the MTA has no such held message (released or deleted by hand)
};

class Adapter {
public:
    virtual ~Adapter() = default;
    virtual std::string_view name() const = 0;
    virtual Result<Released> release(std::string_view queue_id) = 0;
};

std::unique_ptr<Adapter> make_adapter(const Settings& s);

// Letters and digits, 5..32 characters, not "ALL".
bool valid_queue_id(std::string_view qid);

}  // namespace ses::mta
