// simulator.hpp -- the mailbox simulator's scenario table.
//
// Mail to SCENARIO@[simulator] domain (optionally SCENARIO+label@) never
// leaves the machine: the milter removes the recipient at end of message
// and records what the real scenario would have produced, marked simulated
// (docs/simulator.md has the table):
//
//   success      delivered
//   bounce       hard bounce, 550 5.1.1
//   softbounce   deferred (4.2.0), then delivered
//   ooto         delivered, then an auto_reply event
//   complaint    delivered, then a spamreport
//   unsubscribe  delivered, then an unsubscribe event
//   suppressed   dropped at submission as if on the suppression list (1007)
//   (any other local part: the hard bounce of an unknown mailbox)
//
// Pure: no store, no I/O.  Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "records/status.hpp"

namespace ses::records {

enum class Scenario { success, bounce, softbounce, ooto, complaint, unsubscribe, suppressed, unknown };
std::string_view scenario_name(Scenario s);

struct SimulatorSettings {
    bool enabled = true;
    std::string domain = "simulator.sesmilter.invalid";  // lower case
};

// The scenario of an address; nullopt when it is not at the simulator's
// domain (or the simulator is off).  Local part and domain are compared
// case-insensitively; "+label" is ignored.
std::optional<Scenario> scenario_of(const SimulatorSettings& s, std::string_view address);

// What the scenario's recipient receives after submission, in order, each
// at `time` (applied through MessageStore::apply at once).  Empty for
// `suppressed`, which is dropped at submission.
std::vector<Outcome> scenario_outcomes(Scenario s, std::string_view address, int64_t time);

}  // namespace ses::records
