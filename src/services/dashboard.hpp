// dashboard.hpp -- the operator's dashboard (docs/dashboard.md): a static
// page at `/` with its script and style under `/static/`, drawing the
// funnel, warm-up, held queue, events and failed webhooks from the /v1 API.
//
// The page, script and style are compiled in (no build step, no files to
// install); Chart.js comes from Debian's libjs-chart.js, read once from
// `[http] dashboard_assets` when the router is made.  Without it the page
// still shows every table (the chart is left out), so a missing file is a
// log line, not an error.  The page holds no data and takes no key; the
// data comes from the /v1 routes with the key the operator types in.
// Every answer carries a Content-Security-Policy of 'self' only.
//
// Thread safety: the routes only read the texts loaded before serving.
#pragma once

#include <string>

#include "services/http_router.hpp"

namespace ses::services {

// Adds GET `/`, `/static/dashboard.js`, `/static/dashboard.css` and
// `/static/chart.js` (404 when `chart_dir`/chart.min.js cannot be read).
void add_dashboard_routes(http::Router& router, const std::string& chart_dir);

// The Content-Security-Policy of the dashboard's answers.
inline constexpr const char* kDashboardCsp =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

}  // namespace ses::services
