// sendmail.hpp -- releasing quarantined mail with Sendmail (see adapter.hpp).
//
// Best effort: `sendmail -qQ -Q -qIQID` removes the quarantine of the queue
// entries whose id contains QID (sendmail matches -qI as a substring, hence
// the minimum length of queue ids), and `sendmail -qIQID` attempts delivery
// at once (a timeout there is not an error: the entry stays queued for the
// next queue run).  Sendmail does not report whether anything matched, so
// release() never answers not_held.
// Thread safety: immutable.
#pragma once

#include "mta/adapter.hpp"

namespace ses::mta {

class SendmailAdapter : public Adapter {
public:
    explicit SendmailAdapter(Settings s) : s_(std::move(s)) {}
    std::string_view name() const override { return "sendmail"; }
    Result<Released> release(std::string_view queue_id) override;

    std::vector<std::string> unquarantine_command(std::string_view qid) const;
    std::vector<std::string> run_command(std::string_view qid) const;

private:
    Settings s_;
};

}  // namespace ses::mta
