// task_cmd.cpp -- `sesctl task ...`.
//
// `create` builds the same request as POST /v1/tasks from its options (or
// takes that JSON from --request FILE) and stores the task; the running
// daemon's task runner picks it up at its next poll.  pause/resume/cancel
// change the stored status; the runner honours it between two messages.
// With --json every command prints the API's document.
//
// Errors: a bad request names the field; an unknown task or an impossible
// change (cancel a finished task) fails with exit 1; usage errors exit 2.
#include "ctl/task_cmd.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "auth/from_config.hpp"
#include "auth/identity.hpp"
#include "config/config.hpp"
#include "config/keys.hpp"
#include "ctl/open_store.hpp"
#include "mail/address.hpp"
#include "records/tasks.hpp"
#include "services/batch_api.hpp"
#include "template/lmdb_store.hpp"
#include "util/clock.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

void print_task(Context& c, const records::Task& t) {
    c.out << t.id << "  type " << t.type << "  " << records::task_status_name(t.status) << " (" << int(t.status)
          << ")  group " << t.group << "  template " << t.template_name << "  from " << t.from << "\n"
          << "    run " << t.run << ", next " << records::format_task_time(t.next_run) << " UTC; requested "
          << t.requested << ", sent " << t.sent << ", waiting " << t.cached() << ", skipped " << t.skipped
          << ", failed " << t.failed << ", resubmitted " << t.resubmitted << "\n";
    if (!t.error.empty()) c.out << "    error: " << t.error << "\n";
}

int create(Context& c) {
    if (!c.args.empty()) return fail(c, "usage: sesctl task create --request FILE | --type N --from ADDR ...", 2);
    std::string body;
    if (auto file = c.opt("request")) {
        std::ifstream in(*file, std::ios::binary);
        if (!in) return fail(c, "cannot read " + *file);
        std::ostringstream s;
        s << in.rdbuf();
        body = s.str();
    } else {
        json j;
        auto num = [&](const std::string& name) -> std::optional<long long> {
            auto v = c.opt(name);
            if (!v) return std::nullopt;
            try {
                return std::stoll(*v);
            } catch (...) {
                return -1;
            }
        };
        j["TaskType"] = num("type").value_or(1);
        if (auto v = c.opt("from")) j["FromEmailAddress"] = *v;
        if (auto v = num("group")) j["GroupId"] = *v;
        if (auto v = c.opt("subject")) j["Subject"] = *v;
        if (auto v = c.opt("template")) j["Template"] = {{"TemplateName", *v}};
        if (auto v = c.opt("time-zone")) j["TimeZone"] = *v;
        if (auto v = c.opt("begin")) {
            j["TimedParam"] = {{"BeginTime", *v}};
            j["CycleParam"] = {{"BeginTime", *v}};
        }
        if (auto v = num("interval")) j["CycleParam"]["IntervalTime"] = *v;
        if (c.flag("term-cycle")) j["CycleParam"]["TermCycle"] = 1;
        if (auto v = c.opt("end")) j["CycleParam"]["EndTime"] = *v;
        if (auto v = num("max-runs")) j["CycleParam"]["MaxRuns"] = *v;
        body = j.dump();
    }
    auto env = open_store(c.cfg);
    if (!env) return fail(c, "store: " + env.error().what);
    auto templates = tmpl::LmdbTemplateStore::open(*env);
    if (!templates) return fail(c, "template store: " + templates.error().what);
    records::GroupLimits lim;
    records::Groups groups(*env, lim);
    records::Tasks tasks(*env);
    auto ids = auth::identities(c.cfg);
    bool subdomains = c.cfg.get(config::key::dkim::subdomains);
    auto exists = [&](const std::string& name) {
        auto t = (*templates)->get(name);
        return t && t->has_value();
    };
    auto identity_of = [&](std::string_view a) -> std::string {
        const auth::IdentityConf* id = auth::find_identity(ids, mail::domain_of(a), subdomains);
        return id ? id->domain : std::string();
    };
    auto id = services::batch::create_task(tasks, groups, body, clock::now(), exists, identity_of);
    if (!id) return fail(c, id.error().what);
    if (c.json)
        c.out << json{{"TaskId", *id}}.dump(2) << "\n";
    else
        c.out << *id << "\n";
    return 0;
}

int list(Context& c) {
    if (!c.args.empty()) return fail(c, "usage: sesctl task list", 2);
    auto env = open_store(c.cfg);
    if (!env) return fail(c, "store: " + env.error().what);
    auto all = records::Tasks(*env).list();
    if (!all) return fail(c, all.error().what);
    if (c.json) {
        json arr = json::array();
        for (const auto& t : *all) arr.push_back(services::batch::task(t));
        c.out << json{{"Tasks", arr}}.dump(2) << "\n";
        return 0;
    }
    if (all->empty()) c.out << "no tasks\n";
    for (const auto& t : *all) print_task(c, t);
    return 0;
}

int show(Context& c) {
    auto id = c.args.size() == 1 ? services::batch::parse_id(c.args[0]) : std::nullopt;
    if (!id) return fail(c, "usage: sesctl task show ID", 2);
    auto env = open_store(c.cfg);
    if (!env) return fail(c, "store: " + env.error().what);
    auto t = records::Tasks(*env).get(*id);
    if (!t) return fail(c, t.error().what);
    if (!*t) return fail(c, "no task " + c.args[0]);
    if (c.json)
        c.out << services::batch::task(**t).dump(2) << "\n";
    else
        print_task(c, **t);
    return 0;
}

int control(Context& c, const char* action) {
    auto id = c.args.size() == 1 ? services::batch::parse_id(c.args[0]) : std::nullopt;
    if (!id) return fail(c, std::string("usage: sesctl task ") + action + " ID", 2);
    auto env = open_store(c.cfg);
    if (!env) return fail(c, "store: " + env.error().what);
    auto t = records::Tasks(*env).control(*id, action);
    if (!t) return fail(c, t.error().what);
    if (c.json)
        c.out << services::batch::task(*t).dump(2) << "\n";
    else
        print_task(c, *t);
    return 0;
}

}  // namespace

std::vector<Command> task_commands() {
    return {
        {"task create",
         "--request FILE | --type 1|2|3 --from ADDR --group ID --template NAME [--subject S] [--begin 'YYYY-MM-DD "
         "HH:MM:SS'] [--interval HOURS] [--term-cycle] [--end TIME] [--max-runs N] [--time-zone +HH:MM]",
         "make a batch task: send a template to a recipient group now (1), at --begin (2) or every --interval hours "
         "(3)",
         create,
         {"term-cycle"}},
        {"task list", "", "the tasks with their status and counts", list},
        {"task show", "ID", "one task", show},
        {"task pause", "ID", "stop sending a task until resumed", [](Context& c) { return control(c, "pause"); }},
        {"task resume", "ID", "go on with a paused task", [](Context& c) { return control(c, "resume"); }},
        {"task cancel", "ID", "stop a task for good", [](Context& c) { return control(c, "cancel"); }},
    };
}

}  // namespace ses::ctl
