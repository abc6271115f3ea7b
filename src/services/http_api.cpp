// http_api.cpp -- see http_api.hpp.
#include "services/http_api.hpp"

#include <sys/stat.h>

#include "records/apikeys.hpp"
#include "records/delivery.hpp"
#include "services/api_json.hpp"
#include "store/schema.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::services {
namespace {

using http::Access;
using http::error_response;
using http::json_response;
using http::Request;
using http::Response;

Response ok_json(const nlohmann::json& j) { return json_response(200, j.dump(2) + "\n"); }

Response message(const Services& s, const Request& req) {
    if (!s.records) return error_response(404, "message records are off ([records] enabled = false)");
    std::string id = req.path.substr(std::string_view("/v1/messages/").size());
    if (id.empty() || id.find('/') != std::string::npos) return error_response(404, "usage: /v1/messages/ID");
    auto txn = s.store->begin_read();
    if (!txn) return error_response(500, txn.error().what);
    auto m = s.records->get(*txn, id);
    if (!m) return error_response(404, "no message record " + id);
    std::vector<records::MessageRecord> found;
    found.push_back(std::move(*m));
    return ok_json(api::status_list(found, std::nullopt));
}

Response stats(const Services& s, const Request& req) {
    if (!s.records) return error_response(404, "message records are off ([records] enabled = false)");
    std::string sim = req.param("simulated").value_or("false");
    auto q = api::parse_stats_query(*s.records, req.param("from"), req.param("to"), req.param("identity"),
                                    req.param("mailbox_domain"), sim == "true" || sim == "1");
    if (!q) return error_response(400, q.error().what);
    auto txn = s.store->begin_read();
    if (!txn) return error_response(500, txn.error().what);
    return ok_json(api::stats(api::collect_stats(*s.records, *txn, *q), *q));
}

Response warmup(const Services& s, const Request&) {
    if (!s.warmup) return error_response(404, "warm-up is off ([warmup] enabled = false)");
    auto all = s.warmup->status_all();
    if (!all) return error_response(500, all.error().what);
    return ok_json(api::warmup_all(*s.warmup, *all));
}

Response held(const Services& s, const Request& req) {
    if (!s.warmup) return error_response(404, "warm-up is off ([warmup] enabled = false)");
    std::optional<warmup::IdentityKey> only;
    if (auto id = req.param("identity")) only = warmup::parse_identity(*id);
    auto list = s.warmup->held(only);
    if (!list) return error_response(500, list.error().what);
    return ok_json(api::held(*list, clock::now()));
}

}  // namespace

std::unique_ptr<http::Router> make_router(std::shared_ptr<Services> s, metrics::Registry& reg) {
    auto keys = std::make_shared<records::ApiKeys>(s->store);
    auto router = std::make_unique<http::Router>([keys](std::string_view key) { return keys->check(key); });
    auto route = [&](std::string prefix, Response (*fn)(const Services&, const Request&)) {
        router->add("GET", std::move(prefix), Access::operator_route, [s, fn](const Request& r) { return fn(*s, r); });
    };
    route("/v1/messages/", message);
    route("/v1/stats", stats);
    route("/v1/warmup", warmup);
    route("/v1/queue/held", held);
    router->add("GET", "/metrics", Access::operator_route, [&reg](const Request&) {
        Response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = reg.render();
        return r;
    });
    // Tracking and unsubscribe (docs/tracking.md): registered by their owners.
    router->stub("GET", "/o/");
    router->stub("GET", "/c/");
    router->stub("GET", "/u/");
    router->stub("POST", "/u/");
    return router;
}

void add_service_collectors(metrics::Registry& reg, std::shared_ptr<Services> s, std::string log_file,
                            std::vector<std::string> hooks) {
    using metrics::Family;
    using metrics::Type;
    reg.add_collector([s, log_file, hooks]() {
        std::vector<Family> out;
        if (s->policy) {
            out.push_back({"sesmilter_policy_stalls_total",
                           "Policy hook calls that hit their instruction budget or time limit (the built-in answer "
                           "was used).",
                           Type::counter,
                           {{{}, double(s->policy->stalls())}}});
        }
        if (s->warmup) {
            Family used{"sesmilter_quota_used_messages",
                        "Messages sent today under the warm-up quota, per identity.",
                        Type::gauge,
                        {}};
            Family limit{"sesmilter_quota_limit_messages", "Today's warm-up quota per identity.", Type::gauge, {}};
            Family level{"sesmilter_warmup_level", "Warm-up level per identity.", Type::gauge, {}};
            if (auto all = s->warmup->status_all()) {
                for (const auto& st : *all) {
                    metrics::Labels l{{"identity", st.id.name}};
                    used.samples.emplace_back(l, double(st.usage.sent));
                    limit.samples.emplace_back(l, double(st.limit.total));
                    level.samples.emplace_back(l, double(st.state.level));
                }
            } else {
                log::warn("metrics: warm-up status: " + all.error().what);
            }
            out.push_back(std::move(used));
            out.push_back(std::move(limit));
            out.push_back(std::move(level));
        }
        if (s->outbox) {
            Family depth{
                "sesmilter_webhook_outbox_events", "Webhook deliveries waiting in the outbox.", Type::gauge, {}};
            Family failed{"sesmilter_webhook_failed_events",
                          "Webhook deliveries given up after webhooks.max_age (`sesctl events failed`).",
                          Type::gauge,
                          {}};
            if (auto txn = s->store->begin_read()) {
                for (const auto& hook : hooks)
                    depth.samples.emplace_back(metrics::Labels{{"webhook", hook}},
                                               double(s->outbox->pending(*txn, hook)));
                failed.samples.emplace_back(metrics::Labels{}, double(s->outbox->failed(*txn, SIZE_MAX).size()));
            }
            out.push_back(std::move(depth));
            out.push_back(std::move(failed));
        }
        if (s->records && !log_file.empty()) {
            double lag = 0;
            struct stat st {};
            if (auto txn = s->store->begin_read(); txn && ::stat(log_file.c_str(), &st) == 0) {
                auto v = txn->get(s->store->table(store::table::follower), log_file);
                auto pos = v ? records::decode_position(*v) : std::nullopt;
                uint64_t offset = pos && pos->inode == uint64_t(st.st_ino) ? pos->offset : 0;
                if (uint64_t(st.st_size) > offset) lag = double(uint64_t(st.st_size) - offset);
            }
            out.push_back({"sesmilter_follower_lag_bytes",
                           "Bytes of the MTA's log not yet read by the delivery follower.",
                           Type::gauge,
                           {{{}, lag}}});
        }
        return out;
    });
}

}  // namespace ses::services
