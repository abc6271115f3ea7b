// http_test.cpp -- the HTTP endpoint without sockets: the router (routes,
// auth, listener sides), query and bearer parsing, API keys in a real LMDB,
// and the Prometheus text of the metrics registry.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "records/apikeys.hpp"
#include "services/dashboard.hpp"
#include "services/http_router.hpp"
#include "services/metrics.hpp"

using namespace ses;
using namespace ses::http;

namespace {

Request get(std::string path, std::string key = {}) {
    Request r;
    r.method = "GET";
    r.path = std::move(path);
    if (!key.empty()) r.headers["authorization"] = "Bearer " + key;
    return r;
}

Router test_router(int* auth_calls = nullptr, bool store_fails = false) {
    Router r([=](std::string_view key) -> Result<std::string> {
        if (auth_calls) ++*auth_calls;
        if (store_fails) return Error{"disk on fire", {}};
        return std::string(key == "good" ? "ops" : "");
    });
    r.add("GET", "/v1/stats", Access::operator_route, [](const Request& q) {
        Response s;
        s.body = "stats for " + q.api_key_name + " from " + q.param("from").value_or("-");
        return s;
    });
    r.add("GET", "/v1/messages/", Access::operator_route, [](const Request& q) {
        Response s;
        s.body = "message " + q.path.substr(13);
        return s;
    });
    r.stub("GET", "/o/");
    r.add("POST", "/u/", Access::public_route, [](const Request& q) {
        Response s;
        s.body = "unsub " + q.body;
        return s;
    });
    return r;
}

struct TempStore {
    std::filesystem::path path;
    std::shared_ptr<store::Env> env;
    TempStore() {
        static std::atomic<int> n{0};
        path = std::filesystem::temp_directory_path() /
               ("ses-apikeys-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
        store::Options o;
        o.path = path.string();
        o.map_size = 1 << 20;
        auto e = store::Env::open(o);
        REQUIRE(e);
        env = *e;
    }
    ~TempStore() {
        env.reset();
        std::filesystem::remove_all(path);
    }
};

}  // namespace

TEST_CASE("router: operator routes need a known bearer key", "[http]") {
    int calls = 0;
    Router r = test_router(&calls);
    auto none = r.handle(get("/v1/stats"));
    CHECK(none.status == 401);
    REQUIRE(none.headers.size() == 1);
    CHECK(none.headers[0].first == "WWW-Authenticate");
    CHECK(calls == 0);
    CHECK(r.handle(get("/v1/stats", "bad")).status == 401);
    Request basic = get("/v1/stats");
    basic.headers["authorization"] = "Basic Z29vZA==";
    CHECK(r.handle(basic).status == 401);
    Request q = get("/v1/stats", "good");
    q.query = parse_query("from=2026-11-01&x=1");
    auto ok = r.handle(q);
    CHECK(ok.status == 200);
    CHECK(ok.body == "stats for ops from 2026-11-01");
    // The scheme is case-insensitive (RFC 7235).
    Request lower = get("/v1/stats");
    lower.headers["authorization"] = "bearer good";
    CHECK(r.handle(lower).status == 200);
}

TEST_CASE("router: a key store failure is 503, never let through", "[http]") {
    Router r = test_router(nullptr, true);
    auto resp = r.handle(get("/v1/stats", "good"));
    CHECK(resp.status == 503);
    CHECK(resp.body.find("disk on fire") != std::string::npos);
}

TEST_CASE("router: prefixes, 404 and 405", "[http]") {
    Router r = test_router();
    CHECK(r.handle(get("/v1/messages/abc", "good")).body == "message abc");
    CHECK(r.handle(get("/v1/statsx", "good")).status == 404);  // a prefix ends at '/'
    CHECK(r.handle(get("/v1/stats/", "good")).status == 200);
    CHECK(r.handle(get("/nothing")).status == 404);
    // Public routes need no key; the stubs answer 404 until replaced.
    CHECK(r.handle(get("/o/TOKEN")).status == 404);
    Request post = get("/u/T");
    post.method = "POST";
    post.body = "List-Unsubscribe=One-Click";
    CHECK(r.handle(post).body == "unsub List-Unsubscribe=One-Click");
    CHECK(r.handle(get("/u/T")).status == 405);
    Request del = get("/v1/stats", "good");
    del.method = "DELETE";
    CHECK(r.handle(del).status == 405);
    // Replacing a stub is one call.
    r.add("GET", "/o/", Access::public_route, [](const Request&) { return Response{200, "image/gif", "GIF", {}}; });
    CHECK(r.handle(get("/o/TOKEN")).body == "GIF");
}

TEST_CASE("router: a separate admin listener splits the routes", "[http]") {
    Router r = test_router();
    CHECK(r.handle(get("/v1/stats", "good"), Listener::public_only).status == 404);
    CHECK(r.handle(get("/v1/stats", "good"), Listener::admin_only).status == 200);
    Request post = get("/u/T");
    post.method = "POST";
    CHECK(r.handle(post, Listener::admin_only).status == 404);
    CHECK(r.handle(post, Listener::public_only).status == 200);
}

TEST_CASE("dashboard: the page at / needs no key, is served beside the operator routes only", "[http][dashboard]") {
    int calls = 0;
    Router r = test_router(&calls);
    services::add_dashboard_routes(r, "/nonexistent-chart-dir");
    auto page = r.handle(get("/"));
    CHECK(page.status == 200);
    CHECK(page.content_type == "text/html; charset=utf-8");
    CHECK(page.body.find("/static/dashboard.js") != std::string::npos);
    CHECK(calls == 0);  // no key asked for
    auto csp = std::find_if(page.headers.begin(), page.headers.end(),
                            [](const auto& h) { return h.first == "Content-Security-Policy"; });
    REQUIRE(csp != page.headers.end());
    CHECK(csp->second.find("default-src 'self'") == 0);
    CHECK(csp->second.find("unsafe") == std::string::npos);
    CHECK(r.handle(get("/static/dashboard.js")).content_type == "text/javascript; charset=utf-8");
    CHECK(r.handle(get("/static/dashboard.css")).status == 200);
    // Without libjs-chart.js the chart is a 404 (the page shows its tables).
    CHECK(r.handle(get("/static/chart.js")).status == 404);
    // "/" is the page, not a catch-all: other paths stay 404, and POST 404 (not 405).
    CHECK(r.handle(get("/nothing")).status == 404);
    CHECK(r.handle(get("/v1/nothing", "good")).status == 404);
    Request post = get("/nothing");
    post.method = "POST";
    CHECK(r.handle(post).status == 404);
    // With admin_listen the page is where its API is, never on the public side.
    CHECK(r.handle(get("/"), Listener::admin_only).status == 200);
    CHECK(r.handle(get("/"), Listener::public_only).status == 404);
    CHECK(r.handle(get("/static/dashboard.js"), Listener::public_only).status == 404);
}

TEST_CASE("dashboard: Chart.js is read once from dashboard_assets", "[http][dashboard]") {
    auto dir = std::filesystem::temp_directory_path() / ("ses-chart-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    { std::ofstream(dir / "chart.min.js") << "/* chart */"; }
    Router r = test_router();
    services::add_dashboard_routes(r, dir.string());
    std::filesystem::remove_all(dir);  // read at start-up: still served
    auto js = r.handle(get("/static/chart.js"));
    CHECK(js.status == 200);
    CHECK(js.body == "/* chart */");
}

TEST_CASE("query strings and percent-decoding", "[http]") {
    auto q = parse_query("a=1&b=x%20y+z&c&bad=%zz&d=%41");
    CHECK(q.at("a") == "1");
    CHECK(q.at("b") == "x y z");
    CHECK(q.at("c").empty());
    CHECK(q.count("bad") == 0);
    CHECK(q.at("d") == "A");
    CHECK(!percent_decode("%4"));
    CHECK(!percent_decode("%"));
    Request r = get("/");
    r.headers["authorization"] = "Bearer   ";
    CHECK(!bearer_token(r));
}

TEST_CASE("API keys: restricted to identities", "[http][send]") {
    TempStore t;
    records::ApiKeys keys(t.env);
    auto all = keys.create("all", 1700000000);
    auto shop = keys.create("shop", 1700000001, {"shop.example.com", "example.com"});
    REQUIRE(all);
    REQUIRE(shop);
    CHECK(!keys.create("bad", 1, {"with space.example"}));
    CHECK(!keys.create("bad2", 1, {""}));
    CHECK(keys.check(*shop).value() == "shop");  // the identities do not disturb the hash
    auto info = keys.info("shop");
    REQUIRE(info);
    REQUIRE(info->has_value());
    CHECK((*info)->identities == std::vector<std::string>{"shop.example.com", "example.com"});
    CHECK((*info)->created == 1700000001);
    CHECK(keys.info("all").value()->identities.empty());
    CHECK_FALSE(keys.info("none").value().has_value());
    auto listed = keys.list();
    REQUIRE(listed);
    REQUIRE(listed->size() == 2);
    CHECK((*listed)[1].identities.size() == 2);
}

TEST_CASE("API keys: only a hash is stored, revoke takes effect at once", "[http]") {
    TempStore t;
    records::ApiKeys keys(t.env);
    auto k = keys.create("ops", 1700000000);
    REQUIRE(k);
    CHECK(k->rfind("ses_", 0) == 0);
    CHECK(k->size() == 4 + 64);
    CHECK(!keys.create("ops", 1700000001));  // duplicate name
    CHECK(!keys.create("bad name", 1));
    auto k2 = keys.create("ci", 1700000002);
    REQUIRE(k2);
    CHECK(*k2 != *k);
    CHECK(keys.check(*k).value() == "ops");
    CHECK(keys.check(*k2).value() == "ci");
    CHECK(keys.check("ses_wrong").value().empty());
    // The key itself is nowhere in the table.
    auto txn = t.env->begin_read();
    REQUIRE(txn);
    auto v = txn->get(t.env->table("api_keys"), "ops");
    REQUIRE(v);
    CHECK(std::string(*v).find(*k) == std::string::npos);
    CHECK(v->size() == 32 + 8);
    txn->abort();
    auto list = keys.list();
    REQUIRE(list);
    REQUIRE(list->size() == 2);
    CHECK((*list)[1].name == "ops");
    CHECK((*list)[1].created == 1700000000);
    REQUIRE(keys.revoke("ops"));
    CHECK(keys.check(*k).value().empty());
    CHECK(!keys.revoke("ops"));
}

TEST_CASE("metrics: Prometheus text format", "[http]") {
    metrics::Registry reg;
    reg.describe("t_messages_total", metrics::Type::counter, "Messages.\nby verdict");
    reg.describe("t_lat_seconds", metrics::Type::histogram, "Latency.", {0.01, 0.1, 1});
    reg.inc("t_messages_total", {{"verdict", "accept"}});
    reg.inc("t_messages_total", {{"verdict", "accept"}});
    reg.inc("t_messages_total", {{"verdict", "re\"j\\ect\n"}});
    reg.observe("t_lat_seconds", 0.005);
    reg.observe("t_lat_seconds", 0.5);
    reg.observe("t_lat_seconds", 5);
    reg.add_collector([] {
        return std::vector<metrics::Family>{
            {"t_quota_used_messages", "Used.", metrics::Type::gauge, {{{{"identity", "example.com"}}, 7}}}};
    });
    CHECK(reg.value("t_messages_total", {{"verdict", "accept"}}) == 2);
    std::string text = reg.render();
    CHECK(text ==
          "# HELP t_lat_seconds Latency.\n"
          "# TYPE t_lat_seconds histogram\n"
          "t_lat_seconds_bucket{le=\"0.01\"} 1\n"
          "t_lat_seconds_bucket{le=\"0.1\"} 1\n"
          "t_lat_seconds_bucket{le=\"1\"} 2\n"
          "t_lat_seconds_bucket{le=\"+Inf\"} 3\n"
          "t_lat_seconds_sum 5.505\n"
          "t_lat_seconds_count 3\n"
          "# HELP t_messages_total Messages.\\nby verdict\n"
          "# TYPE t_messages_total counter\n"
          "t_messages_total{verdict=\"accept\"} 2\n"
          "t_messages_total{verdict=\"re\\\"j\\\\ect\\n\"} 1\n"
          "# HELP t_quota_used_messages Used.\n"
          "# TYPE t_quota_used_messages gauge\n"
          "t_quota_used_messages{identity=\"example.com\"} 7\n");
}

TEST_CASE("metrics: the global registry describes sesmilter's families", "[http]") {
    std::string text = metrics::global().render();
    for (auto name : {metrics::kMessages, metrics::kSignatures, metrics::kHolds, metrics::kReleases,
                      metrics::kEomSeconds, metrics::kHttpRequests})
        CHECK(text.find("# TYPE " + std::string(name)) != std::string::npos);
    CHECK(text.find("sesmilter_end_of_message_duration_seconds_bucket{le=\"+Inf\"} ") != std::string::npos);
}

TEST_CASE("path segments after a route prefix", "[http]") {
    using V = std::vector<std::string>;
    CHECK(http::path_parts("/v1/groups", "/v1/groups") == V{});
    CHECK(http::path_parts("/v1/groups/", "/v1/groups") == V{});
    CHECK(http::path_parts("/v1/groups/7/export", "/v1/groups") == V{"7", "export"});
    CHECK(http::path_parts("/v1/templates//a//b/", "/v1/templates") == V{"a", "b"});
}
