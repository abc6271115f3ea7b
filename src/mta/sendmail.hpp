// sendmail.hpp -- releasing quarantined mail with Sendmail (see adapter.hpp).
//
// `sendmail -bp -qQ -qIQID` first lists the quarantined entries whose id
// contains QID: when QID is not among them (deleted or released by hand)
// release() answers not_held, because the two commands below exit 0 whether
// anything matched or not.  When the listing cannot be read (a sudoers rule
// that allows only the release commands, say) the release goes on as before.
// `sendmail -qQ -Q -qIQID` then removes the quarantine (a -Q without a
// reason, followed by another option, unquarantines; sendmail matches -qI as
// a substring, hence the minimum length of queue ids), and `sendmail
// -qIQID` attempts delivery at once (a failure there is not an error: the
// entry stays queued for the next queue run).  Measured with Sendmail
// 8.17.1.9 in tests/e2e/test_sendmail.py (docs/sendmail.md).
// Thread safety: immutable.
#pragma once

#include "mta/adapter.hpp"

namespace ses::mta {

class SendmailAdapter : public Adapter {
public:
    explicit SendmailAdapter(Settings s) : s_(std::move(s)) {}
    std::string_view name() const override { return "sendmail"; }
    Result<Released> release(std::string_view queue_id) override;

    std::vector<std::string> list_command(std::string_view qid) const;
    std::vector<std::string> unquarantine_command(std::string_view qid) const;
    std::vector<std::string> run_command(std::string_view qid) const;

    // Whether `sendmail -bp` output lists qid: 1 yes, 0 no (an empty queue
    // or a listing without it), -1 when the output is not a listing.
    static int listed(std::string_view bp_output, std::string_view qid);

private:
    Settings s_;
};

}  // namespace ses::mta
