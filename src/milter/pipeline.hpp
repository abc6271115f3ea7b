// pipeline.hpp -- the end-of-message decision, independent of libmilter.
//
// end_of_message() runs the stages in their fixed order (header checks,
// identity, template, tracking, warm-up, DKIM signing last) over a Message
// and returns what the edge must answer.  Stages edit the Message; the edge
// replays those edits only when the verdict says so.  A stage's Error with a
// reply becomes that reply; one without (an internal failure) becomes the
// `on_error` answer.  Callable from unit tests without an MTA.
#pragma once

#include <string>

#include "mail/message.hpp"
#include "milter/runtime.hpp"
#include "util/log.hpp"
#include "util/result.hpp"

namespace ses::milter {

struct Verdict {
    enum class Kind { accept, reject, tempfail };
    Kind kind = Kind::accept;
    bool apply_edits = true;  // false: pass the message on exactly as received
    Reply reply;              // reject / tempfail
    std::string log;          // the one log line describing the outcome
    bool internal = false;    // sesmilter failed (not the message): logged at error
    bool degraded = false;    // a stage was skipped per on_error = accept: logged at warning
};

// The severity of the one log line for a verdict.
log::Level log_level(const Verdict& v);

Verdict end_of_message(mail::Message& msg, const Runtime& rt);

// The reply and verdict for an Error, honouring on_error for internal ones.
Verdict verdict_for(const Error& e, config::OnError on_error);

// "552 5.3.4 ..." for a message past the limit.
Reply size_reply(uint64_t limit);

}  // namespace ses::milter
