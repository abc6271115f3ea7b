// log_line.hpp -- one line of an MTA's mail log, as a delivery outcome.
//
// The delivery-status follower reads the MTA's own log: Postfix's
// `maillog_file` (postlogd, Postfix >= 3.4) or the file a system logger
// writes for Sendmail.  Both write `Mon DD HH:MM:SS host prog[pid]: text`
// in local time without a year.  Only the lines that say what happened to a
// recipient (or to a whole message) matter here:
//
//   postfix/smtp[7]: QID: to=<a@b>, orig_to=<c@d>, relay=r[1.2.3.4]:25,
//       delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)
//   postfix/qmgr[7]: QID: from=<s@d>, status=expired, returned to sender
//   sm-mta[7]: QID: to=<a@b>, delay=00:00:01, mailer=esmtp, pri=1,
//       relay=mx. [1.2.3.4], dsn=5.1.1, stat=User unknown
//   postfix/pickup[7]: NEWID: uid=0 from=<s@d> orig_id=QID
//       (a message requeued with postsuper -r: same message, new queue id)
//
// parse_log_line() is pure and allocation-light; lines it does not
// recognise give std::nullopt (most lines of a mail log).  The status text
// in parentheses may itself contain commas and parentheses: it is the rest
// of the line.  Thread safety: none needed (no state).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ses::mta {

enum class LogStatus {
    sent,        // delivered to the next hop / mailbox
    deferred,    // temporary failure, will be retried
    bounced,     // permanent failure for this recipient
    softbounce,  // Postfix soft_bounce = yes turned a bounce into a deferral
    expired,     // the whole message left the queue undelivered (per message)
    requeued,    // the message `orig_id` is now queue id `queue_id` (postsuper -r)
};
std::string_view status_name(LogStatus s);

struct LogLine {
    std::string stamp;     // "Nov 27 15:24:44", as written (local time, no year)
    std::string host;      // the logging host
    std::string program;   // "postfix/smtp", "sm-mta", ...
    std::string queue_id;  // as the MTA prints it
    std::string to;        // recipient (per-recipient lines); empty for expired
    std::string orig_to;   // the address before rewriting (Postfix), if logged
    std::string relay;     // "host[addr]:port" (Postfix) or "host. [addr]" (Sendmail)
    std::string dsn;       // enhanced status code, "2.0.0"
    std::string text;      // the reply or diagnostic ("250 2.0.0 Ok: queued as X")
    std::string orig_id;   // requeued: the message's former queue id
    LogStatus status = LogStatus::sent;
};

std::optional<LogLine> parse_log_line(std::string_view line);

}  // namespace ses::mta
