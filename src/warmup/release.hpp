// release.hpp -- the release protocol of held mail: the batch the engine
// hands out and the outcomes it records.  Pure data; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "warmup/records.hpp"

namespace ses::warmup {

// One release pass, in three steps so that the engine never runs an MTA
// tool: Engine::begin_release() picks the due held mail that fits today's
// quotas, charges it to today and marks it "releasing" (committed); the
// caller runs the MTA adapter for each item (services/release_scheduler.hpp:
// release_pass()); Engine::finish_release() records the outcomes: released
// or gone -> the record is dropped; failed -> it stays "releasing" and is
// tried again after `release_retry` seconds without being charged twice.
struct ReleaseItem {
    std::string key;  // in the held table
    HeldMail mail;
};

struct ReleaseBatch {
    std::vector<ReleaseItem> items;  // to release now, oldest first
    size_t deferred = 0;             // did not fit today's quota: moved to the next day
    bool full = false;               // the batch is full: more may be due
};

enum class ReleaseOutcome { released, not_held, failed };

// What a whole pass did (summed over batches).
struct ReleaseReport {
    size_t released = 0;
    size_t requeued = 0;                 // of those released: requeued under a new queue id (see mta/adapter.hpp)
    size_t not_held = 0;                 // gone from the MTA's hold queue: record dropped
    size_t failed = 0;                   // the MTA tool failed: retried later
    size_t deferred = 0;                 // did not fit today's quota: moved to the next day
    std::vector<std::string> queue_ids;  // released
};

}  // namespace ses::warmup
