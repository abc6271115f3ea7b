// postfix.hpp -- releasing held mail with Postfix's tools (see adapter.hpp).
//
// postsuper -H prints "Released from hold: N message(s)"; N = 0 means the
// message was not in the hold queue.  postqueue -i then asks the queue
// manager to deliver it now; if that fails the message is still released and
// goes out at the next queue run, so it only logs.
// Thread safety: release() and release_held() may run concurrently (the
// cached queue lifetime is guarded).
#pragma once

#include <mutex>

#include "mta/adapter.hpp"

namespace ses::mta {

class PostfixAdapter : public Adapter {
public:
    explicit PostfixAdapter(Settings s) : s_(std::move(s)) {}
    std::string_view name() const override { return "postfix"; }
    Result<Released> release(std::string_view queue_id) override;
    // postsuper -H, or postsuper -r (+ postkick pickup) when the message is
    // past maximal_queue_lifetime - requeue_margin (see adapter.hpp).
    Result<Released> release_held(std::string_view queue_id, int64_t arrival, int64_t now) override;
    // postsuper -r QID hold, then a wake-up of pickup.
    Result<Released> requeue(std::string_view queue_id);
    // maximal_queue_lifetime in seconds (postconf -h), read at most every
    // five minutes.
    Result<int64_t> queue_lifetime(int64_t now);

    // The count in postsuper's output, or -1 when there is none.
    static int released_count(std::string_view postsuper_output);
    static int requeued_count(std::string_view postsuper_output);

private:
    Settings s_;
    std::mutex mu_;  // guards the cached lifetime
    int64_t lifetime_ = -1, lifetime_read_at_ = 0;
};

}  // namespace ses::mta
