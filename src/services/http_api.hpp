// http_api.hpp -- the routes of the HTTP endpoint over the daemon's
// services: the JSON API (/v1/...), /metrics, and the public tracking and
// unsubscribe prefixes (/o/, /c/, /u/; 404 stubs when [records] is off)
// and the dashboard page (/).
//
// The API answers the documents of `sesctl ... --json` (api_json.hpp).
// Errors: a bad parameter is 400, an unknown message or an area that is
// switched off 404, a store failure 500, each as {"error": "..."}.
// Thread safety: the handlers run on the server's threads at once; each
// uses its own read transaction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "services/http_router.hpp"
#include "services/metrics.hpp"
#include "services/services.hpp"

namespace ses::services {

// Operator routes check keys against the api_keys table of s->store.  The
// dashboard (`/`, services/dashboard.hpp) takes Chart.js from `chart_dir`.
std::unique_ptr<http::Router> make_router(std::shared_ptr<Services> s, metrics::Registry& reg,
                                          const std::string& chart_dir = {});

// Scrape-time values of the services: quota per identity, webhook outbox,
// policy stalls, follower lag (bytes of `log_file` not yet read); `hooks`
// are the webhook ids (WebhookConf::id).
void add_service_collectors(metrics::Registry& reg, std::shared_ptr<Services> s, std::string log_file,
                            std::vector<std::string> hooks);

}  // namespace ses::services
