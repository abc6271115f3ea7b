// http_api.cpp -- see http_api.hpp.
#include "services/http_api.hpp"

#include <sys/stat.h>

#include <charconv>

#include "records/apikeys.hpp"
#include "records/delivery.hpp"
#include "services/api_json.hpp"
#include "services/batch_api.hpp"
#include "services/template_api.hpp"
#include "services/dashboard.hpp"
#include "services/send_api.hpp"
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
    auto table = api::collect_stats(*s.records, *txn, *q);
    if (auto st = txn->status(); !st) return error_response(503, st.error().what);  // the fleet's Redis
    return ok_json(api::stats(table, *q));
}

Response warmup(const Services& s, const Request&) {
    if (!s.warmup) return error_response(404, "warm-up is off ([warmup] enabled = false)");
    auto all = s.warmup->status_all(true);
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

// A `limit` parameter: 1..1000, `fallback` when absent.
std::optional<size_t> limit_param(const Request& req, size_t fallback) {
    auto v = req.param("limit");
    if (!v) return fallback;
    size_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n == 0 || n > 1000) return std::nullopt;
    return n;
}

// The `sesctl events --json` document: events since `since` (RFC 3339,
// default: all), oldest first, at most `limit` (default 100, at most 1000).
Response events(const Services& s, const Request& req) {
    if (!s.records) return error_response(404, "message records are off ([records] enabled = false)");
    int64_t since = 0;
    if (auto v = req.param("since")) {
        auto t = clock::parse_rfc3339(*v);
        if (!t) return error_response(400, "since: not an RFC 3339 time or date: " + *v);
        since = *t;
    }
    auto lim = limit_param(req, 100);
    if (!lim) return error_response(400, "limit: not a number from 1 to 1000");
    size_t limit = *lim;
    auto type = req.param("type");
    if (type && !records::parse_event_name(*type)) return error_response(400, "type: unknown event type " + *type);
    auto txn = s.store->begin_read();
    if (!txn) return error_response(500, txn.error().what);
    nlohmann::json list = nlohmann::json::array();
    // The type filter is applied after the read: read generously.
    for (const auto& e : s.records->events(*txn, since, type ? limit * 50 : limit)) {
        if (type && records::event_name(e.type) != *type) continue;
        if (list.size() >= limit) break;
        list.push_back(api::event(e));
    }
    return ok_json(nlohmann::json{{"Events", list}});
}

// The `sesctl events failed --json` document: webhook deliveries given up.
Response failed_webhooks(const Services& s, const Request& req) {
    if (!s.outbox) return error_response(404, "no webhooks are configured ([[webhook]])");
    auto lim = limit_param(req, 100);
    if (!lim) return error_response(400, "limit: not a number from 1 to 1000");
    size_t limit = *lim;
    auto txn = s.store->begin_read();
    if (!txn) return error_response(500, txn.error().what);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : s.outbox->failed(*txn, limit)) list.push_back(api::failed_webhook(e));
    return ok_json(nlohmann::json{{"Failed", list}});
}

// The public routes of tracked mail (docs/tracking.md): no key, no
// cookie; a token that does not verify changes nothing and gets 404.
std::string token_of(const Request& req, std::string_view prefix) { return req.path.substr(prefix.size()); }

std::string user_agent(const Request& req) { return req.header("user-agent").value_or(""); }

// 43 bytes: the smallest transparent 1x1 GIF.
constexpr unsigned char kPixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
                                    0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
                                    0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

Response no_store(Response r) {
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

Response not_found() { return no_store(error_response(404, "unknown or invalid link")); }

// Runs a tracking write; a store failure is a 503 (the client may retry),
// never a redirect to somewhere unchecked.
template <class T, class Fn>
std::optional<T> in_write(const Services& s, Fn fn, Response& failure) {
    std::optional<T> out;
    Status st = s.store->update([&](store::Txn& txn) -> Status {
        auto r = fn(txn);
        if (!r) return r.error();
        out = std::move(*r);
        return ok_status();
    });
    if (!st) {
        log::warn("http: tracking: " + st.error().what);
        failure = no_store(error_response(503, "temporarily unavailable"));
        return std::nullopt;
    }
    return out;
}

Response open_pixel(const Services& s, const Request& req) {
    Response failure;
    auto ok = in_write<bool>(
        s, [&](store::Txn& txn) { return s.tracking->open(txn, token_of(req, "/o/"), user_agent(req), clock::now()); },
        failure);
    if (!ok) return failure;
    if (!*ok) return not_found();
    Response r;
    r.content_type = "image/gif";
    r.body.assign(reinterpret_cast<const char*>(kPixel), sizeof kPixel);
    return no_store(std::move(r));
}

Response click(const Services& s, const Request& req) {
    Response failure;
    auto url = in_write<std::optional<std::string>>(
        s, [&](store::Txn& txn) { return s.tracking->click(txn, token_of(req, "/c/"), user_agent(req), clock::now()); },
        failure);
    if (!url) return failure;
    if (!*url) return not_found();
    Response r;
    r.status = 302;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", **url);
    r.body = "Redirecting.\n";
    return no_store(std::move(r));
}

std::string html_escape(std::string_view in) {
    std::string out;
    for (char c : in) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

Response html_page(int status, const std::string& title, const std::string& body_html) {
    Response r;
    r.status = status;
    r.content_type = "text/html; charset=utf-8";
    r.body =
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
        "content=\"width=device-width\"><title>" +
        title + "</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\">" + body_html +
        "</body></html>\n";
    r.headers.emplace_back("X-Frame-Options", "DENY");
    return no_store(std::move(r));
}

// GET: a confirmation page only (mail scanners follow links; RFC 8058 says a
// GET must not unsubscribe).  The form posts to the same URL.
Response unsubscribe_page(const Services& s, const Request& req) {
    auto txn = s.store->begin_read();
    if (!txn) return no_store(error_response(503, "temporarily unavailable"));
    auto target = s.tracking->unsubscribe_target(*txn, token_of(req, "/u/"));
    if (!target) return not_found();
    return html_page(200, "Unsubscribe",
                     "<h1>Unsubscribe</h1><p>Stop mail from " + html_escape(target->identity) + " to <b>" +
                         html_escape(target->address) +
                         "</b>?</p><form method=\"post\"><input type=\"hidden\" "
                         "name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">Unsubscribe"
                         "</button></form>");
}

// POST (RFC 8058 one-click, or the page's form): no cookie, no key.
Response unsubscribe(const Services& s, const Request& req) {
    Response failure;
    auto ok = in_write<bool>(
        s,
        [&](store::Txn& txn) {
            return s.tracking->unsubscribe(txn, token_of(req, "/u/"), user_agent(req), clock::now());
        },
        failure);
    if (!ok) return failure;
    if (!*ok) return not_found();
    return html_page(200, "Unsubscribed", "<h1>Unsubscribed</h1><p>You will not receive this mail again.</p>");
}

}  // namespace

std::unique_ptr<http::Router> make_router(std::shared_ptr<Services> s, metrics::Registry& reg,
                                          const std::string& chart_dir) {
    auto keys = std::make_shared<records::ApiKeys>(s->store);
    auto router = std::make_unique<http::Router>([keys](std::string_view key) { return keys->check(key); });
    auto route = [&](std::string prefix, Response (*fn)(const Services&, const Request&)) {
        router->add("GET", std::move(prefix), Access::operator_route, [s, fn](const Request& r) { return fn(*s, r); });
    };
    route("/v1/messages/", message);
    route("/v1/stats", stats);
    route("/v1/warmup", warmup);
    route("/v1/queue/held", held);
    route("/v1/events", events);
    route("/v1/events/failed", failed_webhooks);
    add_send_routes(*router, s);
    router->add("GET", "/metrics", Access::operator_route, [&reg](const Request&) {
        Response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = reg.render();
        return r;
    });
    // Tracking and unsubscribe (docs/tracking.md): public routes.
    if (s->tracking) {
        auto pub = [&](std::string method, std::string prefix, Response (*fn)(const Services&, const Request&)) {
            router->add(std::move(method), std::move(prefix), Access::public_route,
                        [s, fn](const Request& r) { return fn(*s, r); });
        };
        pub("GET", "/o/", open_pixel);
        pub("GET", "/c/", click);
        pub("GET", "/u/", unsubscribe_page);
        pub("POST", "/u/", unsubscribe);
    } else {
        router->stub("GET", "/o/");
        router->stub("GET", "/c/");
        router->stub("GET", "/u/");
        router->stub("POST", "/u/");
    }
    batch::add_routes(*router, s);      // /v1/groups, /v1/tasks (docs/tasks.md)
    templates::add_routes(*router, s);  // /v1/templates (docs/api.md)
    add_dashboard_routes(*router, chart_dir);
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
            if (auto* sh = s->warmup->shared()) {
                auto h = sh->health();
                if (h.backend == "redis") {
                    out.push_back({"sesmilter_store_redis_up",
                                   "1 while the fleet's Redis answers.",
                                   Type::gauge,
                                   {{{}, h.up ? 1.0 : 0.0}}});
                    out.push_back({"sesmilter_store_redis_errors_total",
                                   "Failed calls to the fleet's Redis.",
                                   Type::counter,
                                   {{{}, double(h.errors)}}});
                    out.push_back({"sesmilter_store_redis_outages_total",
                                   "Times the fleet's Redis became unreachable.",
                                   Type::counter,
                                   {{{}, double(h.outages)}}});
                }
            }
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
