// delivery.hpp -- delivery outcomes from the MTA's log, applied to the records.
//
// DeliveryTracker reads the MTA's log with a LogFollower, turns each
// delivery line into an Outcome for the recipient it names, and applies a
// batch of them to the message records in ONE write transaction that also
// stores the follower's position: after a crash or restart the next batch
// starts at the first line whose effect was not committed, so no line is
// counted twice and none is skipped.  Lines of messages sesmilter never
// saw (no record for the queue id) are read and ignored.
//
// The milter sees recipients before alias rewriting, so a line's orig_to=
// (when Postfix logs one) names the recorded recipient; otherwise to= does.
// A per-message expiry line applies to every recipient still open.  A
// pickup line with orig_id= (a message requeued with postsuper -r, as the
// release of held mail near its queue lifetime does) moves the record to
// the new queue id.
//
// Errors: poll_once() fails when the log cannot be read or the store
// cannot commit; the position is then not advanced and the same lines are
// read again at the next call.
// Thread safety: one tracker, one thread (the follower service).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mta/log_follower.hpp"
#include "mta/log_line.hpp"
#include "records/message_store.hpp"
#include "store/env.hpp"

namespace ses::records {

// The outcome a log line reports, at `time`.
Outcome outcome_of(const mta::LogLine& l, int64_t time);

// A syslog stamp ("Nov 27 15:24:44", local time, no year) as Unix seconds:
// the year is the one that puts the stamp nearest before `now` (a line
// written on Dec 31 and read on Jan 1 belongs to the old year).  RFC 3339
// stamps carry their own year and offset.  `now` when unreadable.
int64_t log_time(std::string_view stamp, int64_t now);

// The follower's stored position (table follower), or nullopt when unreadable;
// also read by the metrics (follower lag).
std::optional<mta::LogPosition> decode_position(std::string_view v);

class DeliveryTracker {
public:
    DeliveryTracker(std::shared_ptr<store::Env> env, std::shared_ptr<MessageStore> records, std::string log_path);

    // Called inside the batch's transaction for each event written, with its
    // record: feeds warm-up reputation, suppression and webhooks.
    std::function<void(store::Txn&, const MessageRecord&, const Event&)> on_event;
    // Called (outside any transaction) for problems worth a log line.
    std::function<void(const std::string&)> on_warning;

    // Reads and applies up to `batch` lines; returns how many were read.
    Result<size_t> poll_once(size_t batch = 2000);

    const std::string& path() const { return path_; }

private:
    mta::LogPosition load_position();
    std::shared_ptr<store::Env> env_;
    std::shared_ptr<MessageStore> records_;
    std::string path_;
    std::unique_ptr<mta::LogFollower> follower_;
    mta::LogPosition committed_;
};

}  // namespace ses::records
