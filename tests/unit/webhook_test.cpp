// webhook_test.cpp -- the webhook outbox (in a real LMDB), the retry
// schedule, the payload formats, the signature and the sender with a fake
// transport.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"
#include "records/message_store.hpp"
#include "records/outbox.hpp"
#include "services/webhook_payload.hpp"
#include "services/webhook_sender.hpp"
#include "util/clock.hpp"

using namespace ses;
using namespace ses::records;
using nlohmann::json;

namespace {

struct HookStore {
    std::filesystem::path path;
    std::shared_ptr<store::Env> env;
    std::shared_ptr<Outbox> outbox;
    std::shared_ptr<MessageStore> ms;
    bool sink_fails = false;
    explicit HookStore(std::vector<Subscription> subs) {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-webhook-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
        store::Options o;
        o.path = path.string();
        o.map_size = 1 << 20;
        auto e = store::Env::open(o);
        REQUIRE(e);
        env = *e;
        outbox = std::make_shared<Outbox>(env, std::move(subs));
        StoreSettings s;
        s.on_event = [this](store::Txn& txn, const Event& ev) -> Status {
            if (sink_fails) return internal_error("sink down");
            return outbox->on_event(txn, ev);
        };
        auto m = MessageStore::open(env, std::move(s));
        REQUIRE(m);
        ms = *m;
    }
    ~HookStore() {
        ms.reset();
        outbox.reset();
        env.reset();
        std::filesystem::remove_all(path);
    }
    void add(const MessageRecord& m) {
        REQUIRE(env->update([&](store::Txn& t) { return ms->add(t, m); }));
    }
    void outcome(const std::string& id, const std::string& rcpt, Outcome::Kind k, int64_t t, std::string dsn = {}) {
        Outcome o;
        o.kind = k;
        o.time = t;
        o.dsn = dsn;
        o.text = dsn.empty() ? "250 ok" : "550 no such user";
        REQUIRE(env->update([&](store::Txn& txn) -> Status {
            auto r = ms->apply(txn, id, rcpt, o);
            if (!r) return r.error();
            return ok_status();
        }));
    }
    std::vector<OutboxEntry> due(const std::string& hook, int64_t now, size_t max = 100) {
        auto txn = env->begin_read();
        REQUIRE(txn);
        return outbox->due(*txn, hook, now, max);
    }
    size_t pending(const std::string& hook) {
        auto txn = env->begin_read();
        REQUIRE(txn);
        return outbox->pending(*txn, hook);
    }
};

MessageRecord message(std::string id, std::string qid, int64_t t, std::vector<std::string> rcpts,
                      int send_status = send_status::accepted) {
    MessageRecord m;
    m.id = std::move(id);
    m.queue_id = std::move(qid);
    m.identity = "example.com";
    m.sender = m.from = "news@example.com";
    m.subject = "Hello";
    m.template_name = "welcome";
    m.request_time = t;
    for (auto& r : rcpts) {
        RecipientRecord rr;
        rr.address = r;
        rr.state.request_time = t;
        rr.state.send_status = send_status;
        m.recipients.push_back(rr);
    }
    return m;
}

std::string hmac_hex(const std::string& secret, const std::string& data) {
    return crypto::hex_encode(crypto::hmac_sha256(secret, data));
}

}  // namespace

TEST_CASE("retry schedule: first retry within a minute, doubling, capped", "[webhook]") {
    RetryPolicy p;
    p.base = 30;
    p.cap = 3600;
    CHECK(retry_delay(p, 1) == 30);
    CHECK(retry_delay(p, 2) == 60);
    CHECK(retry_delay(p, 3) == 120);
    CHECK(retry_delay(p, 7) == 1920);
    CHECK(retry_delay(p, 8) == 3600);  // 3840 capped
    CHECK(retry_delay(p, 1000) == 3600);
    // An hour down: about ten attempts, not thousands.
    int64_t t = 0;
    int attempts = 0;
    while (t < 3600) t += retry_delay(p, static_cast<uint32_t>(++attempts));
    CHECK(attempts < 12);
}

TEST_CASE("outbox entries are written in the event's transaction, per matching webhook", "[webhook]") {
    Subscription all{"all", {}};
    Subscription bounces{"bounces", {EventType::bounce}};
    HookStore s({all, bounces});
    s.add(message("m1", "Q1", 1000, {"a@x.org", "b@x.org"}));
    CHECK(s.pending("all") == 2);  // processed x2
    CHECK(s.pending("bounces") == 0);
    s.outcome("m1", "a@x.org", Outcome::Kind::bounced, 1010, "5.1.1");
    CHECK(s.pending("all") == 3);
    CHECK(s.pending("bounces") == 1);

    // A sink failure fails the event's transaction: neither the status
    // change nor the event nor an outbox entry is committed.
    s.sink_fails = true;
    Outcome o;
    o.kind = Outcome::Kind::sent;
    o.time = 1020;
    CHECK_FALSE(s.env->update([&](store::Txn& txn) -> Status {
        auto r = s.ms->apply(txn, "m1", "b@x.org", o);
        if (!r) return r.error();
        return ok_status();
    }));
    s.sink_fails = false;
    auto txn = s.env->begin_read();
    REQUIRE(txn);
    CHECK(s.ms->get(*txn, "m1")->recipient("b@x.org")->state.deliver == Deliver::accepted);
    CHECK(s.ms->events(*txn, 0, 100).size() == 3);
}

TEST_CASE("outbox: per-recipient order, a waiting head holds its recipient back", "[webhook]") {
    HookStore s({Subscription{"h", {}}});
    s.add(message("m1", "Q1", 1000, {"a@x.org", "b@x.org"}));
    s.outcome("m1", "a@x.org", Outcome::Kind::sent, 1001);
    s.outcome("m1", "b@x.org", Outcome::Kind::sent, 1002);

    auto batch = s.due("h", 2000);
    REQUIRE(batch.size() == 4);
    // Each recipient's events in the order they happened.
    std::map<std::string, std::vector<uint64_t>> seqs;
    for (auto& e : batch) seqs[e.event.recipient].push_back(e.event.seq);
    for (auto& [r, v] : seqs) CHECK(std::is_sorted(v.begin(), v.end()));

    // a@'s first event fails: a@ waits, b@ goes on.
    std::vector<OutboxEntry> a_head{batch[0]};
    REQUIRE(batch[0].event.recipient == "a@x.org");
    RetryPolicy p;
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        auto r = s.outbox->attempt_failed(txn, a_head, "HTTP 503", 2000, p);
        if (!r) return r.error();
        CHECK(r->empty());
        return ok_status();
    }));
    auto later = s.due("h", 2000);
    for (auto& e : later) CHECK(e.event.recipient == "b@x.org");
    CHECK(later.size() == 2);
    // Due again after the backoff, head first.
    auto again = s.due("h", 2000 + retry_delay(p, 1));
    REQUIRE(again.size() == 4);
    CHECK(again[0].event.seq == batch[0].event.seq);
    CHECK(again[0].attempts == 1);
    CHECK(again[0].last_error == "HTTP 503");
    {
        auto txn = s.env->begin_read();
        CHECK(*s.outbox->next_due(*txn, "h") == 0);  // b@'s head was never tried: due at once
    }
    // Delivered entries go.
    REQUIRE(s.env->update([&](store::Txn& txn) { return s.outbox->delivered(txn, again); }));
    CHECK(s.pending("h") == 0);
}

TEST_CASE("outbox: give up after max_age, list, retry", "[webhook]") {
    HookStore s({Subscription{"h", {}}});
    s.add(message("m1", "Q1", 1000, {"a@x.org"}));
    s.outcome("m1", "a@x.org", Outcome::Kind::sent, 1001);
    RetryPolicy p;
    p.max_age = 3600;
    auto batch = s.due("h", 1500);
    REQUIRE(batch.size() == 2);
    std::vector<OutboxEntry> gave_up;
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        auto r = s.outbox->attempt_failed(txn, batch, "connection refused", 1000 + 3600, p);
        if (!r) return r.error();
        gave_up = *r;
        return ok_status();
    }));
    REQUIRE(gave_up.size() == 1);  // the processed event is an hour old; the delivered one a second younger
    CHECK(gave_up[0].event.type == EventType::processed);
    CHECK(s.pending("h") == 1);
    // The recipient's next event is not held back by the one that gave up.
    CHECK(s.due("h", 1000 + 3600 + retry_delay(p, 1)).size() == 1);
    {
        auto txn = s.env->begin_read();
        auto f = s.outbox->failed(*txn, 10);
        REQUIRE(f.size() == 1);
        CHECK(f[0].hook == "h");
        CHECK(f[0].failed_at == 4600);
        CHECK(f[0].attempts == 1);
        CHECK(f[0].last_error == "connection refused");
    }
    size_t moved = 0;
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        auto r = s.outbox->retry(txn, gave_up[0].event.seq);
        if (!r) return r.error();
        moved = *r;
        return ok_status();
    }));
    CHECK(moved == 1);
    auto txn = s.env->begin_read();
    CHECK(s.outbox->failed(*txn, 10).empty());
    auto d = s.outbox->due(*txn, "h", 0, 10);  // due at once, head of its recipient again
    REQUIRE(d.size() == 2);
    CHECK(d[0].event.type == EventType::processed);
    CHECK(d[0].attempts == 0);
}

TEST_CASE("held and released events; notes and free-standing events", "[webhook]") {
    HookStore s({Subscription{"h", {EventType::held, EventType::released, EventType::rendering_failure}}});
    s.add(message("m1", "Q1", 1000, {"a@x.org"}, send_status::daily_limit));
    REQUIRE(s.env->update([&](store::Txn& txn) -> Status {
        auto n = s.ms->note(txn, "m1", {}, EventType::released, 2000);
        if (!n) return n.error();
        CHECK(*n == 1);
        Event e;
        e.time = 2001;
        e.recipient = "z@x.org";
        e.type = EventType::rendering_failure;
        e.text = "welcome: missing name";
        return s.ms->record_event(txn, e);
    }));
    auto d = s.due("h", 5000);
    REQUIRE(d.size() == 3);
    CHECK(d[0].event.type == EventType::held);
    CHECK(d[1].event.type == EventType::released);
    CHECK(d[2].event.type == EventType::rendering_failure);
    CHECK(d[2].event.message_id.empty());
}

TEST_CASE("event names round-trip; unknown names in a webhook's filter are refused", "[webhook]") {
    for (int i = 0; i < kEventTypes; ++i) {
        auto t = static_cast<EventType>(i);
        CHECK(parse_event_name(event_name(t)) == t);
    }
    // The loader's list is the same as the records' names.
    REQUIRE(std::size(config::kWebhookEventNames) == static_cast<size_t>(kEventTypes));
    for (int i = 0; i < kEventTypes; ++i) CHECK(config::kWebhookEventNames[i] == event_name(static_cast<EventType>(i)));
    auto cfg = config::load_string(R"(
[[webhook]]
url = "http://127.0.0.1:1/x"
secrets = ["0123456789abcdef"]
events = ["delivered", "bounced"]
)",
                                   "t.toml");
    REQUIRE_FALSE(cfg);
    CHECK(cfg.error().what.find("unknown event type \"bounced\"") != std::string::npos);
    config::Config good;
    config::WebhookConf w;
    w.id = "x";
    w.events = {"bounced"};
    good.webhooks = {w};
    auto subs = subscriptions_from(good);  // the second check, for configurations built in code
    REQUIRE_FALSE(subs);
    CHECK(subs.error().what.find("\"bounced\"") != std::string::npos);
}

TEST_CASE("webhook config: secrets, url, names", "[webhook]") {
    auto ok = config::load_string(R"(
[webhooks]
max_age = "2h"
[[webhook]]
url = "https://app.example.com/e"
secrets = ["new-secret-0123456789", "old-secret-0123456789"]
format = "tencent"
events = ["delivered"]
[[webhook]]
name = "second"
url = "http://127.0.0.1:8080/"
secrets = ["0123456789abcdef"]
)",
                                  "t.toml");
    REQUIRE(ok);
    REQUIRE(ok->webhooks.size() == 2);
    CHECK(ok->webhooks[0].id == "https://app.example.com/e");
    CHECK(ok->webhooks[0].format == "tencent");
    CHECK(ok->webhooks[0].secrets.size() == 2);
    CHECK(ok->webhooks[1].id == "second");
    CHECK(ok->webhooks[1].batch_max == 100);
    CHECK(ok->webhooks[1].timeout == 10);
    CHECK(ok->get(config::key::webhooks::max_age) == 7200);
    CHECK(ok->dump().find("old-secret") == std::string::npos);
    CHECK(config::load_string(ok->dump(), "dump.toml"));  // the redacted dump still loads

    CHECK_FALSE(config::load_string("[[webhook]]\nurl = \"ftp://x\"\nsecrets = [\"0123456789abcdef\"]\n", "t"));
    CHECK_FALSE(config::load_string("[[webhook]]\nurl = \"http://x\"\nsecrets = [\"short\"]\n", "t"));
    CHECK_FALSE(config::load_string("[[webhook]]\nurl = \"http://x\"\n", "t"));
    CHECK_FALSE(
        config::load_string("[[webhook]]\nurl = \"http://x\"\nsecrets = [\"0123456789abcdef\"]\n"
                            "[[webhook]]\nurl = \"http://x\"\nsecrets = [\"0123456789abcdef\"]\n",
                            "t"));
    CHECK_FALSE(
        config::load_string("[[webhook]]\nurl = \"http://x\"\nsecrets = [\"0123456789abcdef\"]\nformat = "
                            "\"sns\"\n",
                            "t"));
}

TEST_CASE("signature: HMAC-SHA256 over t.body, one v1 per secret", "[webhook]") {
    std::string body = R"([{"event":"delivered"}])";
    std::string h = services::signature_header({"secret-one-0123456", "secret-two-0123456"}, 1700000000, body);
    std::string expect = "t=1700000000,v1=" + hmac_hex("secret-one-0123456", "1700000000." + body) +
                         ",v1=" + hmac_hex("secret-two-0123456", "1700000000." + body);
    CHECK(h == expect);
    // RFC 4231 test case 2, to pin the primitive itself.
    CHECK(hmac_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("payload formats", "[webhook]") {
    MessageRecord m = message("m1", "Q1", 1000, {"a@x.org"});
    Event e;
    e.seq = 42;
    e.time = 1010;
    e.message_id = "m1";
    e.recipient = "a@x.org";
    e.type = EventType::bounce;
    e.bounce = BounceType::hard;
    e.dsn = "5.1.1";
    e.text = "550 no such user";
    services::EventContext c{&e, &m};

    auto ses = json::parse(services::ses_body({c, c}));
    REQUIRE(ses.is_array());
    REQUIRE(ses.size() == 2);
    CHECK(ses[0]["event_id"] == "42");
    CHECK(ses[0]["event"] == "bounce");
    CHECK(ses[0]["bounce_type"] == "hard");
    CHECK(ses[0]["dsn"] == "5.1.1");
    CHECK(ses[0]["identity"] == "example.com");
    CHECK(ses[0]["simulated"] == false);
    CHECK(services::event_ids({c, c}) == "42,42");

    auto t = json::parse(services::tencent_body(c));
    CHECK(t["event"] == "bounce");
    CHECK(t["email"] == "a@x.org");
    CHECK(t["bounceType"] == "hard_bounce");
    CHECK(t["bulkId"] == "m1");
    CHECK(t["messageId"] == "m1");
    CHECK(t["timestamp"] == 1010);
    CHECK(t["sentTimestamp"] == 1000);
    CHECK(t["fromDomain"] == "example.com");
    CHECK(t["reason"] == "5.1.1 550 no such user");
    CHECK(t["templateId"].is_number_integer());
    CHECK(t["templateId"] == services::template_id("welcome"));
    CHECK(services::template_id("welcome") > 0);
    CHECK(services::template_id("") == 0);
    for (auto key : {"event", "email", "link", "bulkId", "timestamp", "reason", "bounceType", "username", "from",
                     "fromDomain", "templateId", "useragent", "subject", "messageId", "sentTimestamp"})
        CHECK(t.contains(key));
    // Only the product's event types.
    CHECK_FALSE(services::tencent_event(EventType::processed));
    CHECK_FALSE(services::tencent_event(EventType::held));
    CHECK_FALSE(services::tencent_event(EventType::auto_reply));
    CHECK(services::tencent_event(EventType::spamreport) == std::string_view("spamreport"));
}

TEST_CASE("sender: batches, signs, retries with backoff, keeps order", "[webhook]") {
    HookStore s({Subscription{"ses", {}}, Subscription{"tc", {}}});
    s.add(message("m1", "Q1", 1000, {"a@x.org"}));
    s.outcome("m1", "a@x.org", Outcome::Kind::sent, 1001);

    std::vector<services::WebhookRequest> seen;
    bool up = false;
    services::Transport fake = [&](const services::WebhookRequest& r) -> Result<long> {
        seen.push_back(r);
        if (!up) return internal_error("Connection refused");
        return 200L;
    };
    services::WebhookSettings ws;
    config::WebhookConf a;
    a.id = "ses";
    a.url = "http://127.0.0.1:9/ses";
    a.secrets = {"0123456789abcdef"};
    config::WebhookConf b = a;
    b.id = "tc";
    b.format = "tencent";
    ws.hooks = {a, b};
    ws.retry.base = 30;
    services::WebhookSender sender(s.env, s.ms, s.outbox, ws, fake);

    auto r = sender.send_once(1100);
    REQUIRE(r);
    CHECK(*r == 0);
    // ses: one request with both events; tencent: processed is skipped, the
    // delivered one fails.
    REQUIRE(seen.size() == 2);
    CHECK(json::parse(seen[0].body).size() == 2);
    CHECK(s.pending("ses") == 2);
    CHECK(s.pending("tc") == 1);  // the skipped processed event went

    // Not due before the backoff.
    seen.clear();
    REQUIRE(sender.send_once(1100 + 29));
    CHECK(seen.empty());

    up = true;
    REQUIRE(sender.send_once(1100 + 30));
    REQUIRE(seen.size() == 2);
    auto hdr = [](const services::WebhookRequest& q, const std::string& k) {
        for (auto& [n, v] : q.headers)
            if (n == k) return v;
        return std::string();
    };
    auto body = json::parse(seen[0].body);
    CHECK(body[0]["event"] == "processed");
    CHECK(body[1]["event"] == "delivered");
    CHECK(hdr(seen[0], "X-SES-Event-ID") ==
          body[0]["event_id"].get<std::string>() + "," + body[1]["event_id"].get<std::string>());
    std::string sig = hdr(seen[0], "X-SES-Signature");
    auto comma = sig.find(',');
    REQUIRE(sig.substr(0, 2) == "t=");
    std::string t = sig.substr(2, comma - 2);
    CHECK(sig.substr(comma + 1) == "v1=" + hmac_hex("0123456789abcdef", t + "." + seen[0].body));
    CHECK(json::parse(seen[1].body)["event"] == "delivered");
    CHECK(s.pending("ses") == 0);
    CHECK(s.pending("tc") == 0);
}

TEST_CASE("test clock: the clock file is re-read when it changes", "[webhook][clock]") {
    auto file = std::filesystem::temp_directory_path() / ("ses-clock-" + std::to_string(::getpid()));
    std::ofstream(file) << "2030-01-01T00:00:00Z\n";
    clock::set_clock_file(file.string());
    int64_t a = clock::now();
    std::ofstream(file) << "1893459600\n";  // one hour later (another size: a change within the mtime's tick)
    int64_t b = clock::now();
    std::filesystem::remove(file);
    int64_t c = clock::now();  // gone: the real clock
    clock::set_clock_file("");
    CHECK(a == 1893456000);
    CHECK(b == 1893459600);
    CHECK(c < 1893456000);
}
