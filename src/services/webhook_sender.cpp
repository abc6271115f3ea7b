// webhook_sender.cpp -- see webhook_sender.hpp.
#include "services/webhook_sender.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "config/keys.hpp"
#include "services/webhook_payload.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::services {
namespace {

constexpr int kMaxBatchesPerRound = 50;  // then the other webhooks get their turn
constexpr size_t kMaxAnswer = 4096;      // bytes of an answer kept for the log

size_t keep_answer(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<std::string*>(user);
    size_t len = size * n;
    if (s->size() < kMaxAnswer) s->append(data, std::min(len, kMaxAnswer - s->size()));
    return len;
}

int progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* stopping = static_cast<std::function<bool()>*>(user);
    return (*stopping && (*stopping)()) ? 1 : 0;  // non-zero aborts the transfer
}

std::string describe(const records::OutboxEntry& e) {
    return "event " + std::to_string(e.event.seq) + " (" + std::string(records::event_name(e.event.type)) + " " +
           e.event.message_id + " " + e.event.recipient + ")";
}

}  // namespace

Transport curl_transport(std::function<bool()> stopping) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    return [stopping = std::move(stopping)](const WebhookRequest& r) mutable -> Result<long> {
        CURL* c = curl_easy_init();
        if (!c) return internal_error("curl_easy_init failed");
        struct curl_slist* hdrs = nullptr;
        for (auto& [k, v] : r.headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
        std::string answer;
        char errbuf[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(c, CURLOPT_URL, r.url.c_str());
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(r.timeout));
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(r.timeout));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r.verify_tls ? 1L : 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r.verify_tls ? 2L : 0L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stopping);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        if (rc != CURLE_OK) return internal_error(std::string(*errbuf ? errbuf : curl_easy_strerror(rc)));
        return status;
    };
}

WebhookSettings webhook_settings_from(const config::Config& cfg) {
    WebhookSettings s;
    s.hooks = cfg.webhooks;
    s.retry.base = cfg.get(config::key::webhooks::retry_base);
    s.retry.cap = cfg.get(config::key::webhooks::retry_max);
    s.retry.max_age = cfg.get(config::key::webhooks::max_age);
    s.verify_tls = cfg.get(config::key::webhooks::verify_tls);
    s.poll_interval = cfg.get(config::key::webhooks::poll_interval);
    return s;
}

WebhookSender::WebhookSender(std::shared_ptr<store::Env> env, std::shared_ptr<records::MessageStore> records,
                             std::shared_ptr<records::Outbox> outbox, WebhookSettings s, Transport t)
    : env_(std::move(env)), records_(std::move(records)), outbox_(std::move(outbox)), s_(std::move(s)) {
    transport_ = t ? std::move(t) : curl_transport([this] { return worker_.stopping(); });
}

WebhookSender::~WebhookSender() { stop(); }

void WebhookSender::start() {
    worker_.start([this](util::Worker& w) { loop(w); });
}

void WebhookSender::stop() { worker_.stop(); }

void WebhookSender::loop(util::Worker& w) {
    log::info("webhook sender: " + std::to_string(s_.hooks.size()) + " endpoint(s), every " +
              std::to_string(s_.poll_interval) + "s");
    do {
        try {
            if (auto r = send_once(clock::now()); !r) log::warn("webhook sender: " + r.error().what);
        } catch (const std::exception& e) {
            log::error(std::string("webhook sender: ") + e.what());
        }
    } while (w.sleep_for(std::chrono::seconds(s_.poll_interval)));
}

Result<size_t> WebhookSender::send_once(int64_t now) {
    size_t ok = 0;
    for (const auto& h : s_.hooks) {
        if (worker_.stopping()) break;
        auto r = send_hook(h, now);
        if (!r) {
            log::warn("webhook " + h.id + ": " + r.error().what);
            continue;
        }
        ok += *r;
    }
    return ok;
}

Result<size_t> WebhookSender::send_hook(const config::WebhookConf& h, int64_t now) {
    const bool tencent = h.format == "tencent";
    size_t answered = 0;
    for (int round = 0; round < kMaxBatchesPerRound && !worker_.stopping(); ++round) {
        // Read the batch and the records it names in one short transaction.
        std::vector<records::OutboxEntry> batch;
        std::vector<std::optional<records::MessageRecord>> recs;
        {
            auto txn = env_->begin_read();
            if (!txn) return txn.error();
            batch = outbox_->due(*txn, h.id, now, static_cast<size_t>(std::max<int64_t>(1, h.batch_max)));
            for (const auto& e : batch)
                recs.push_back(e.event.message_id.empty() ? std::nullopt : records_->get(*txn, e.event.message_id));
        }
        if (batch.empty()) break;

        // The requests, outside any transaction.  `done` entries are
        // delivered (or skipped); the first failure fails the rest of the
        // batch, which keeps every recipient's order.
        std::vector<records::OutboxEntry> done, failed;
        std::string error;
        auto post = [&](const std::vector<EventContext>& ctx, std::string body) -> bool {
            WebhookRequest req;
            req.url = h.url;
            req.timeout = h.timeout;
            req.verify_tls = s_.verify_tls;
            req.headers = {{"Content-Type", "application/json"},
                           {"User-Agent", "sesmilter-webhook"},
                           {"X-SES-Event-ID", event_ids(ctx)},
                           {"X-SES-Signature", signature_header(h.secrets, clock::now(), body)}};
            req.body = std::move(body);
            auto r = transport_(req);
            if (!r) {
                error = r.error().what;
                return false;
            }
            if (*r < 200 || *r > 299) {
                error = "HTTP " + std::to_string(*r);
                return false;
            }
            ++answered;
            return true;
        };
        if (tencent) {
            size_t i = 0;
            for (; i < batch.size(); ++i) {
                if (!tencent_event(batch[i].event.type)) {  // no such type in that format
                    done.push_back(batch[i]);
                    continue;
                }
                EventContext ctx{&batch[i].event, recs[i] ? &*recs[i] : nullptr};
                if (!post({ctx}, tencent_body(ctx))) break;
                done.push_back(batch[i]);
            }
            failed.assign(batch.begin() + static_cast<long>(std::min(i, batch.size())), batch.end());
            // The skipped entries after a failure stay with the failure.
            done.erase(std::remove_if(done.begin(), done.end(),
                                      [&](const records::OutboxEntry& d) {
                                          for (const auto& f : failed)
                                              if (f.key == d.key) return true;
                                          return false;
                                      }),
                       done.end());
        } else {
            std::vector<EventContext> ctx;
            for (size_t i = 0; i < batch.size(); ++i) ctx.push_back({&batch[i].event, recs[i] ? &*recs[i] : nullptr});
            if (post(ctx, ses_body(ctx)))
                done = batch;
            else
                failed = batch;
        }

        std::vector<records::OutboxEntry> gave_up;
        Status st = env_->update([&](store::Txn& txn) -> Status {
            gave_up.clear();
            if (auto s = outbox_->delivered(txn, done); !s) return s;
            if (failed.empty()) return ok_status();
            auto g = outbox_->attempt_failed(txn, failed, error, now, s_.retry);
            if (!g) return g.error();
            gave_up = std::move(*g);
            return ok_status();
        });
        if (!st) return st.error();
        for (const auto& g : gave_up)
            log::warn("webhook " + h.id + ": gave up on " + describe(g) + " after " + std::to_string(g.attempts) +
                      " attempt(s): " + g.last_error + " (sesctl events failed / retry)");
        if (!failed.empty()) {
            log::notice("webhook " + h.id + ": " + error + "; " + std::to_string(failed.size()) +
                        " event(s) retried from " + std::to_string(failed.front().event.seq));
            break;
        }
    }
    return answered;
}

}  // namespace ses::services
