// batch_api.hpp -- recipient groups and batch tasks over the JSON API and
// sesctl: the documents (one builder each, so `sesctl group|task ... --json`
// and /v1/groups, /v1/tasks cannot drift apart), the shared operations
// (import, task creation with its checks) and the routes.
//
// Routes (docs/api.md, "Groups" and "Tasks"): POST /v1/groups {Name} ->
// {GroupId}; GET /v1/groups; GET|DELETE /v1/groups/{id}; GET
// /v1/groups/{id}/export (CSV); POST /v1/groups/{id}/recipients (text/csv,
// or JSON {Datas: [...]}); DELETE /v1/groups/{id}/recipients {Emails};
// POST /v1/tasks -> {TaskId}; GET /v1/tasks; GET /v1/tasks/{id}; POST
// /v1/tasks/{id}/pause|resume|cancel.
//
// Errors: a bad request is 400 with {"error": ...} naming the field, an
// unknown group or task 404, a store failure 500; 404 for every route when
// [records] is off.  Thread safety: handlers run on the server's threads;
// each uses its own transactions.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "records/groups.hpp"
#include "records/tasks.hpp"
#include "services/http_router.hpp"
#include "services/services.hpp"
#include "util/result.hpp"

namespace ses::services::batch {

using nlohmann::json;

json group(const records::GroupInfo& g);
json task(const records::Task& t);
// {"GroupId", "Added", "Replaced", "Duplicates", "Count", "Truncated", "Errors": [{"Line", "Message"}]}
json import_report(uint64_t id, const records::ParsedImport& p, const records::ImportReport& r, uint64_t count);

// Parses `body` as CSV (`json_body` false) or {Datas: [...]}, stores the
// good rows and reports the bad ones.  An Error when nothing could be
// stored because the group is unknown or over its limit, or when the input
// had no good row and bad ones (the report is then in the message).
Result<json> import_members(records::Groups& groups, uint64_t id, std::string_view body, bool json_body);

// Checks the request (parse_task_request), that the group and the
// template exist and that FromEmailAddress is in a configured identity,
// and stores the task.
Result<uint64_t> create_task(records::Tasks& tasks, records::Groups& groups, std::string_view body, int64_t now,
                             const std::function<bool(const std::string&)>& template_exists,
                             const std::function<std::string(std::string_view)>& identity_of);

// A decimal id (1..2^64-1) or nullopt.
std::optional<uint64_t> parse_id(std::string_view s);

void add_routes(http::Router& router, std::shared_ptr<Services> s);

}  // namespace ses::services::batch
