// batch_api.cpp -- see batch_api.hpp.
#include "services/batch_api.hpp"

#include <charconv>

#include "services/task_runner.hpp"
#include "util/clock.hpp"

namespace ses::services::batch {
namespace {

using http::error_response;
using http::json_response;
using http::Request;
using http::Response;

Response ok_json(const json& j, int status = 200) { return json_response(status, j.dump(2) + "\n"); }

bool is_json(const Request& req) {
    auto ct = req.header("content-type").value_or("");
    return ct.find("json") != std::string::npos;
}

Response groups_get(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/groups");
    if (parts.empty()) {
        auto all = s.groups->list();
        if (!all) return error_response(500, all.error().what);
        json list = json::array();
        for (const auto& g : *all) list.push_back(group(g));
        return ok_json({{"Groups", list}});
    }
    auto id = parse_id(parts[0]);
    if (!id || parts.size() > 2 || (parts.size() == 2 && parts[1] != "export"))
        return error_response(404, "usage: /v1/groups/ID or /v1/groups/ID/export");
    if (parts.size() == 2) {
        auto csv = s.groups->export_csv(*id);
        if (!csv) return error_response(404, csv.error().what);
        Response r;
        r.content_type = "text/csv; charset=utf-8";
        r.body = std::move(*csv);
        return r;
    }
    auto g = s.groups->get(*id);
    if (!g) return error_response(500, g.error().what);
    if (!*g) return error_response(404, "no group " + parts[0]);
    return ok_json(group(**g));
}

Response groups_post(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/groups");
    if (parts.empty()) {
        json j = json::parse(req.body, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("Name") || !j["Name"].is_string())
            return error_response(400, "expected {\"Name\": \"...\"}");
        auto id = s.groups->create(j["Name"].get<std::string>(), clock::now());
        if (!id) return error_response(400, id.error().what);
        return ok_json({{"GroupId", *id}});
    }
    auto id = parse_id(parts[0]);
    if (!id || parts.size() != 2 || parts[1] != "recipients")
        return error_response(404, "usage: POST /v1/groups or /v1/groups/ID/recipients");
    auto g = s.groups->get(*id);
    if (!g) return error_response(500, g.error().what);
    if (!*g) return error_response(404, "no group " + parts[0]);
    auto rep = import_members(*s.groups, *id, req.body, is_json(req));
    if (!rep) return error_response(400, rep.error().what);
    return ok_json(*rep);
}

Response groups_delete(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/groups");
    auto id = parts.empty() ? std::nullopt : parse_id(parts[0]);
    if (!id || parts.size() > 2 || (parts.size() == 2 && parts[1] != "recipients"))
        return error_response(404, "usage: DELETE /v1/groups/ID or /v1/groups/ID/recipients");
    if (parts.size() == 2) {
        json j = json::parse(req.body, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("Emails") || !j["Emails"].is_array())
            return error_response(400, "expected {\"Emails\": [\"...\"]}");
        std::vector<std::string> emails;
        for (const auto& e : j["Emails"])
            if (e.is_string()) emails.push_back(e.get<std::string>());
        auto n = s.groups->remove_members(*id, emails);
        if (!n) return error_response(404, n.error().what);
        return ok_json({{"GroupId", *id}, {"Removed", *n}});
    }
    if (Status st = s.groups->remove(*id); !st) return error_response(404, st.error().what);
    return ok_json({{"GroupId", *id}, {"Deleted", true}});
}

Response tasks_get(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/tasks");
    if (parts.empty()) {
        auto all = s.tasks->list();
        if (!all) return error_response(500, all.error().what);
        json list = json::array();
        for (const auto& t : *all) list.push_back(task(t));
        return ok_json({{"Tasks", list}});
    }
    auto id = parse_id(parts[0]);
    if (!id || parts.size() != 1) return error_response(404, "usage: /v1/tasks/ID");
    auto t = s.tasks->get(*id);
    if (!t) return error_response(500, t.error().what);
    if (!*t) return error_response(404, "no task " + parts[0]);
    return ok_json(task(**t));
}

Response tasks_post(const Services& s, const Request& req) {
    auto parts = http::path_parts(req.path, "/v1/tasks");
    if (parts.empty()) {
        auto exists = [&](const std::string& name) {
            auto t = s.templates->get(name);
            return t && t->has_value();
        };
        auto id = create_task(*s.tasks, *s.groups, req.body, clock::now(), exists, s.identity_of);
        if (!id) return error_response(400, id.error().what);
        if (s.task_runner) s.task_runner->wake();
        return ok_json({{"TaskId", *id}});
    }
    auto id = parse_id(parts[0]);
    if (!id || parts.size() != 2) return error_response(404, "usage: POST /v1/tasks/ID/pause|resume|cancel");
    auto t = s.tasks->control(*id, parts[1]);
    if (!t) {
        auto exists = s.tasks->get(*id);
        return error_response(exists && !*exists ? 404 : 409, t.error().what);
    }
    if (s.task_runner) s.task_runner->wake();
    return ok_json(task(*t));
}

}  // namespace

std::optional<uint64_t> parse_id(std::string_view v) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n == 0) return std::nullopt;
    return n;
}

json group(const records::GroupInfo& g) {
    return {{"GroupId", g.id},
            {"GroupName", g.name},
            {"Count", g.count},
            {"CreateTime", records::format_task_time(g.created)}};
}

json task(const records::Task& t) {
    json j = {{"TaskId", t.id},
              {"TaskType", t.type},
              {"Status", static_cast<int>(t.status)},
              {"StatusText", std::string(records::task_status_name(t.status))},
              {"FromEmailAddress", t.from},
              {"GroupId", t.group},
              {"Subject", t.subject},
              {"Template", {{"TemplateName", t.template_name}}},
              {"CreateTime", records::format_task_time(t.created)},
              {"BeginTime", records::format_task_time(t.begin)},
              {"NextRunTime", records::format_task_time(t.next_run)},
              {"Run", t.run},
              {"RequestCount", t.requested},
              {"SendCount", t.sent},
              {"CacheCount", t.cached()},
              {"SkippedCount", t.skipped},
              {"FailedCount", t.failed},
              {"ResubmittedCount", t.resubmitted}};
    if (t.type == 3) {
        json c = {{"BeginTime", records::format_task_time(t.begin)},
                  {"IntervalTime", t.interval / 3600},
                  {"TermCycle", t.term_cycle ? 1 : 0}};
        if (t.end) c["EndTime"] = records::format_task_time(t.end);
        if (t.max_runs) c["MaxRuns"] = t.max_runs;
        j["CycleParam"] = c;
    }
    if (!t.error.empty()) j["Error"] = t.error;
    return j;
}

json import_report(uint64_t id, const records::ParsedImport& p, const records::ImportReport& r, uint64_t count) {
    json errors = json::array();
    for (const auto& e : p.errors) errors.push_back({{"Line", e.line}, {"Message", e.message}});
    return {{"GroupId", id},  {"Added", r.added},         {"Replaced", r.replaced}, {"Duplicates", p.duplicates},
            {"Count", count}, {"Truncated", p.truncated}, {"Errors", errors}};
}

Result<json> import_members(records::Groups& groups, uint64_t id, std::string_view body, bool json_body) {
    auto parsed =
        json_body ? records::parse_group_json(body, groups.limits()) : records::parse_group_csv(body, groups.limits());
    if (parsed.rows.empty() && !parsed.errors.empty()) {
        std::string msg = "no recipient imported:";
        size_t shown = 0;
        for (const auto& e : parsed.errors) {
            if (++shown > 10) break;
            msg += (json_body ? " entry " : " line ") + std::to_string(e.line) + ": " + e.message + ";";
        }
        if (parsed.errors.size() > 10) msg += " and " + std::to_string(parsed.errors.size() - 10) + " more";
        return Error{msg, {}};
    }
    if (parsed.truncated)
        return Error{"more than tasks.max_rows = " + std::to_string(groups.limits().max_rows) +
                         " recipients in the input; nothing imported",
                     {}};
    auto rep = groups.add(id, parsed.rows);
    if (!rep) return rep.error();
    auto g = groups.get(id);
    uint64_t count = g && *g ? (*g)->count : 0;
    return import_report(id, parsed, *rep, count);
}

Result<uint64_t> create_task(records::Tasks& tasks, records::Groups& groups, std::string_view body, int64_t now,
                             const std::function<bool(const std::string&)>& template_exists,
                             const std::function<std::string(std::string_view)>& identity_of) {
    auto t = records::parse_task_request(body, now);
    if (!t) return t.error();
    auto g = groups.get(t->group);
    if (!g) return g.error();
    if (!*g) return Error{"GroupId: no group " + std::to_string(t->group), {}};
    if (template_exists && !template_exists(t->template_name))
        return Error{"Template.TemplateName: no template " + t->template_name, {}};
    if (identity_of && identity_of(t->from).empty())
        return Error{"FromEmailAddress: " + t->from + " is not in a configured identity ([[domain]])", {}};
    t->run = 1;
    return tasks.create(std::move(*t));
}

void add_routes(http::Router& router, std::shared_ptr<Services> s) {
    using http::Access;
    auto add = [&](const char* method, const char* prefix, Response (*fn)(const Services&, const Request&)) {
        router.add(method, prefix, Access::operator_route, [s, fn](const Request& r) {
            if (!s->groups || !s->tasks)
                return error_response(404, "groups and tasks need message records ([records] enabled = true)");
            return fn(*s, r);
        });
    };
    add("GET", "/v1/groups", groups_get);
    add("POST", "/v1/groups", groups_post);
    add("DELETE", "/v1/groups", groups_delete);
    add("GET", "/v1/tasks", tasks_get);
    add("POST", "/v1/tasks", tasks_post);
}

}  // namespace ses::services::batch
