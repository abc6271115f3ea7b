// pipeline.hpp -- the end-of-message decision, independent of libmilter.
//
// end_of_message() runs the stages in their fixed order (header checks,
// identity, template, tracking, warm-up, message record, DKIM signing
// last) over a Message and returns what the edge must answer.  The record
// stage only prepares the record (id, header, return path): the verdict
// carries its store write, which the edge runs through commit_after_edits()
// once the MTA has accepted every edit, so a message the MTA refused (and the
// client will send again) leaves no record behind.  The identity stage decides the
// sending identity and the signing keys once; warm-up and signing use that
// decision.  Each stage appends its fields to the verdict's one log line.
// Degradation is per stage: with on_error = accept a failing store skips
// warm-up and the record (the message is still signed; the line is
// logged at warning); only a failure of signing or of the MTA's edits passes a message
// unsigned, logged at error.  Stages edit the Message; the edge
// replays those edits only when the verdict says so.  A stage's Error with a
// reply becomes that reply; one without (an internal failure) becomes the
// `on_error` answer.  Callable from unit tests without an MTA.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "mail/message.hpp"
#include "milter/runtime.hpp"
#include "util/log.hpp"
#include "util/result.hpp"

namespace ses::milter {

struct Verdict {
    // discard: accepted from the client and consumed (feedback to the
    // return path), never delivered.
    enum class Kind { accept, reject, tempfail, discard };
    Kind kind = Kind::accept;
    bool apply_edits = true;  // false: pass the message on exactly as received
    Reply reply;              // reject / tempfail
    std::string log;          // the one log line describing the outcome
    bool internal = false;    // sesmilter failed (not the message): logged at error
    bool degraded = false;    // a stage was skipped per on_error = accept: logged at warning
    // The message record's store write, prepared by the record stage; run
    // (by commit_after_edits) only after the MTA accepted the edits.  Empty:
    // nothing to write.
    std::function<Status()> commit;
};

// The severity of the one log line for a verdict.
log::Level log_level(const Verdict& v);

Verdict end_of_message(mail::Message& msg, const Runtime& rt);

// Runs the verdict's prepared store write after the MTA accepted the edits.
// A failure follows on_error: tempfail turns the verdict into 451 4.3.0 (the
// client sends again; nothing was recorded); accept lets the message go on
// signed, with its X-SES-Message-ID but without a record (log field
// `record=skipped`, counted in records_skipped_count()).
void commit_after_edits(Verdict& v, config::OnError on_error);

// The reply and verdict for an Error, honouring on_error for internal ones.
Verdict verdict_for(const Error& e, config::OnError on_error);

// "552 5.3.4 ..." for a message past the limit.
Reply size_reply(uint64_t limit);

// Messages that went on without warm-up because the store failed and
// on_error = accept (since start).
uint64_t warmup_skipped_count();
// Messages that went on without a record (and without X-SES-Message-ID)
// because the store failed and on_error = accept (since start).
uint64_t records_skipped_count();

}  // namespace ses::milter
