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
// A held message keeps its arrival time when released with postsuper -H,
// and Postfix expires a message older than maximal_queue_lifetime at its
// first temporary failure: release_held() therefore requeues a message
// whose age is past (maximal_queue_lifetime - requeue_margin) with
//   postsuper -c DIR -r QID hold, then postkick -c DIR public pickup W
// which gives it a new queue id and a fresh arrival time (pickup logs
// "NEWID: uid=.. from=<..> orig_id=QID"; the delivery follower moves the
// record to the new id).  A requeued message does not pass the milters
// again (it stays signed as it was) but does pass header_checks and address
// rewriting again.
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
#include <optional>
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
    std::string postconf = "postconf";
    std::string postkick = "postkick";
    int64_t command_timeout = 30;  // seconds
    // Requeue (instead of release) a held message whose age is past the
    // MTA's queue lifetime minus this many seconds.
    int64_t requeue_margin = 86400;
};

enum class Released {
    yes,       // back in the delivery queue
    not_held,  // the MTA has no such held message (released or deleted by hand)
    requeued,  // back in the queue under a new queue id with a fresh arrival time
};

class Adapter {
public:
    virtual ~Adapter() = default;
    virtual std::string_view name() const = 0;
    virtual Result<Released> release(std::string_view queue_id) = 0;
    // Releases a held message that arrived at `arrival` (Unix seconds) at
    // `now`; an MTA that expires mail by its arrival time may requeue it
    // instead (Released::requeued).  By default the same as release().
    virtual Result<Released> release_held(std::string_view queue_id, int64_t arrival, int64_t now) {
        (void)arrival;
        (void)now;
        return release(queue_id);
    }
};

// Postfix time values ("5d", "3600s", "20s", a bare number in `unit`):
// seconds, nullopt when malformed.
std::optional<int64_t> parse_postfix_time(std::string_view v, char unit = 'd');

std::unique_ptr<Adapter> make_adapter(const Settings& s);

// Letters and digits, 5..32 characters, not "ALL".
bool valid_queue_id(std::string_view qid);

}  // namespace ses::mta
