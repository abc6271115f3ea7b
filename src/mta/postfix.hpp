// postfix.hpp -- releasing held mail with Postfix's tools (see adapter.hpp).
//
// postsuper -H prints "Released from hold: N message(s)"; N = 0 means the
// message was not in the hold queue.  postqueue -i then asks the queue
// manager to deliver it now; if that fails the message is still released and
// goes out at the next queue run, so it only logs.
// Thread safety: immutable.
#pragma once

#include "mta/adapter.hpp"

namespace ses::mta {

class PostfixAdapter : public Adapter {
public:
    explicit PostfixAdapter(Settings s) : s_(std::move(s)) {}
    std::string_view name() const override { return "postfix"; }
    Result<Released> release(std::string_view queue_id) override;

    // The count in postsuper's output, or -1 when there is none.
    static int released_count(std::string_view postsuper_output);

private:
    Settings s_;
};

}  // namespace ses::mta
