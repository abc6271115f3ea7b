// events_cmd.hpp -- sesctl commands over events and their webhooks:
// `events` (the event log), `events failed` (webhook deliveries that gave
// up) and `events retry` (send them again) (docs/events.md).
#pragma once

#include <vector>

#include "ctl/command.hpp"

namespace ses::ctl {
std::vector<Command> events_commands();
}
