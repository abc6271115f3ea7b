// webhook_sender.hpp -- the background service that delivers the webhook
// outbox (records/outbox.hpp) to the configured endpoints.
//
// Every `[webhooks] poll_interval` (and at once after wake()) it takes, per
// webhook, the due entries in outbox order and POSTs them: "ses" endpoints
// get up to `batch_max` events as one JSON array, "tencent" endpoints one
// object per request (events that format has no type for are skipped).
// Each request is signed afresh (t = the clock's now at that attempt) and
// carries X-SES-Event-ID; any 2xx answer delivers, anything else (an HTTP
// error, a refused connection, a timeout) is a failed attempt with
// exponential backoff, and an event older than `max_age` that fails moves to
// the failed list with a warning.  Requests are never made inside a store
// transaction, and the milter path never waits for them: it only writes the
// outbox entries in its own transaction.
//
// The schedule follows clock::now(), so tests drive it with the test clock
// (SESMILTER_CLOCK_FILE).  The HTTP client is a Transport so that unit tests
// can replace libcurl.
//
// Errors: a failing store read or write is logged at warning and retried at
// the next round; the thread never stops on its own.
// Thread safety: start/stop/wake from the main thread; one worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "records/message_store.hpp"
#include "records/outbox.hpp"
#include "services/services.hpp"
#include "store/env.hpp"
#include "util/worker.hpp"

namespace ses::services {

struct WebhookRequest {
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int64_t timeout = 10;
    bool verify_tls = true;
};
// The HTTP status of the answer, or an error (connection, timeout).
using Transport = std::function<Result<long>(const WebhookRequest&)>;
Transport curl_transport(std::function<bool()> stopping);

struct WebhookSettings {
    std::vector<config::WebhookConf> hooks;
    records::RetryPolicy retry;
    bool verify_tls = true;
    int64_t poll_interval = 1;
};
WebhookSettings webhook_settings_from(const config::Config& cfg);

class WebhookSender : public Service {
public:
    WebhookSender(std::shared_ptr<store::Env> env, std::shared_ptr<records::MessageStore> records,
                  std::shared_ptr<records::Outbox> outbox, WebhookSettings s, Transport t = {});
    ~WebhookSender() override;

    std::string_view name() const override { return "webhook sender"; }
    void start() override;
    void stop() override;
    void wake() { worker_.wake(); }

    // One round over every webhook at time `now`: sends what is due (several
    // batches per webhook, until nothing is due or one fails).  Returns the
    // number of requests that were answered 2xx.
    Result<size_t> send_once(int64_t now);

private:
    Result<size_t> send_hook(const config::WebhookConf& h, int64_t now);
    void loop(util::Worker& w);

    std::shared_ptr<store::Env> env_;
    std::shared_ptr<records::MessageStore> records_;
    std::shared_ptr<records::Outbox> outbox_;
    WebhookSettings s_;
    Transport transport_;
    util::Worker worker_;
};

}  // namespace ses::services
