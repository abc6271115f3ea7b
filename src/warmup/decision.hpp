// decision.hpp -- what the warm-up decides for one message, and the
// end-of-message stage that applies it.  Engine::admit() (engine.hpp,
// decision.cpp) makes the decision; apply() turns it into the message's fate.
// Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::warmup {

class Engine;

struct Decision {
    // overflow: nothing was charged or recorded; the message should leave
    // from another address (routing.hpp): `pool` names the policy's pool,
    // "" means this address is full and the pool's next may be tried.
    enum class Action { accept, hold, tempfail, reject, overflow };
    Action action = Action::accept;
    int64_t release_at = 0;  // hold
    std::string reason;      // hold: the quarantine reason; accept over quota: why
    Reply reply;             // tempfail / reject
    std::string identity;    // the identity over quota ("" when it fitted)
    std::string over;        // "daily limit", "group gmail", "paused"
    uint64_t limit = 0;      // that identity's limit and use before this message
    uint64_t used = 0;
    uint32_t recipients = 0;
    std::string pool;  // overflow
};

// How admit() treats an `ip` identity that is over quota (routing.hpp).
struct AdmitOptions {
    // Answer overflow with pool "" at once: no policy asked, nothing recorded.
    bool pass_when_ip_full = false;
    // Pass the policy's overflow back; without it an overflow answer is
    // held by the built-in rule.
    bool allow_overflow = false;
};
std::string_view action_name(Decision::Action a);

// The end-of-message stage: admit, then apply the decision to the message
// (hold -> msg.quarantine(reason)); tempfail/reject become an Error with the
// reply, internal failures an Error without one (on_error).
// `log`, when given, gets the fields for the message's one log line
// (" warmup=ok", " warmup=held recipients=N (reason)").
ses::Status apply(Engine& engine, mail::Message& msg, std::string_view identity_domain, std::string_view ip = {},
                  std::string* log = nullptr);

// The same for a decision already made (routing.cpp).
ses::Status apply_decision(mail::Message& msg, const Decision& d, std::string* log = nullptr);

}  // namespace ses::warmup
