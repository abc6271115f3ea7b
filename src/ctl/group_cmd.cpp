// group_cmd.cpp -- `sesctl group ...`.
//
// The commands work on the store directly, as the HTTP routes do, and print
// the same JSON documents with --json (services/batch_api.hpp).  `import`
// reads a CSV file (or JSON {Datas: [...]} when the name ends in .json),
// keeps the good rows and lists the bad ones with their line numbers.
//
// Errors: an unknown group, a bad name, a file that cannot be read or holds
// no good row, or a store that cannot be opened fail the command (exit 1;
// 2 for usage) with a message.
#include "ctl/group_cmd.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "config/config.hpp"
#include "config/keys.hpp"
#include "ctl/open_store.hpp"
#include "records/groups.hpp"
#include "services/batch_api.hpp"
#include "util/clock.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;

Result<records::Groups> open_groups(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return Error{"store: " + env.error().what, {}};
    records::GroupLimits lim;
    lim.max_rows = static_cast<size_t>(c.cfg.get(config::key::tasks::max_rows));
    lim.max_row_bytes = static_cast<size_t>(c.cfg.get(config::key::tasks::max_row_bytes));
    return records::Groups(*env, lim);
}

std::optional<uint64_t> id_arg(Context& c, size_t i = 0) {
    if (c.args.size() <= i) return std::nullopt;
    return services::batch::parse_id(c.args[i]);
}

void print_group(Context& c, const records::GroupInfo& g) {
    c.out << g.id << "  " << g.name << "  " << g.count << " recipient(s)  created " << clock::format_rfc3339(g.created)
          << "\n";
}

int create(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl group create NAME", 2);
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    auto id = g->create(c.args[0], clock::now());
    if (!id) return fail(c, id.error().what);
    if (c.json)
        c.out << json{{"GroupId", *id}}.dump(2) << "\n";
    else
        c.out << *id << "\n";
    return 0;
}

int list(Context& c) {
    if (!c.args.empty()) return fail(c, "usage: sesctl group list", 2);
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    auto all = g->list();
    if (!all) return fail(c, all.error().what);
    if (c.json) {
        json arr = json::array();
        for (const auto& x : *all) arr.push_back(services::batch::group(x));
        c.out << json{{"Groups", arr}}.dump(2) << "\n";
        return 0;
    }
    if (all->empty()) c.out << "no groups\n";
    for (const auto& x : *all) print_group(c, x);
    return 0;
}

int show(Context& c) {
    auto id = id_arg(c);
    if (!id || c.args.size() != 1) return fail(c, "usage: sesctl group show ID", 2);
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    auto x = g->get(*id);
    if (!x) return fail(c, x.error().what);
    if (!*x) return fail(c, "no group " + c.args[0]);
    if (c.json)
        c.out << services::batch::group(**x).dump(2) << "\n";
    else
        print_group(c, **x);
    return 0;
}

int remove_group(Context& c) {
    auto id = id_arg(c);
    if (!id || c.args.size() != 1) return fail(c, "usage: sesctl group delete ID", 2);
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    if (Status st = g->remove(*id); !st) return fail(c, st.error().what);
    if (c.json)
        c.out << json{{"GroupId", *id}, {"Deleted", true}}.dump(2) << "\n";
    else
        c.out << "deleted group " << *id << "\n";
    return 0;
}

int print_import(Context& c, const Result<json>& rep) {
    if (!rep) return fail(c, rep.error().what);
    if (c.json) {
        c.out << rep->dump(2) << "\n";
        return 0;
    }
    c.out << "group " << (*rep)["GroupId"] << ": added " << (*rep)["Added"] << ", replaced " << (*rep)["Replaced"]
          << ", duplicates " << (*rep)["Duplicates"] << ", now " << (*rep)["Count"] << " recipient(s)\n";
    for (const auto& e : (*rep)["Errors"])
        c.out << "line " << e["Line"] << ": " << e["Message"].get<std::string>() << "\n";
    return 0;
}

int import(Context& c) {
    auto id = id_arg(c);
    if (!id || c.args.size() != 2) return fail(c, "usage: sesctl group import ID FILE (.csv, or .json {Datas})", 2);
    std::ifstream in(c.args[1], std::ios::binary);
    if (!in) return fail(c, "cannot read " + c.args[1]);
    std::ostringstream text;
    text << in.rdbuf();
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    bool is_json = c.args[1].size() > 5 && c.args[1].substr(c.args[1].size() - 5) == ".json";
    return print_import(c, services::batch::import_members(*g, *id, text.str(), is_json));
}

int export_csv(Context& c) {
    auto id = id_arg(c);
    if (!id || c.args.size() != 1) return fail(c, "usage: sesctl group export ID", 2);
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    auto csv = g->export_csv(*id);
    if (!csv) return fail(c, csv.error().what);
    c.out << *csv;
    return 0;
}

int add(Context& c) {
    auto id = id_arg(c);
    if (!id || c.args.size() < 2) return fail(c, "usage: sesctl group add ID EMAIL [JSON-DATA]", 2);
    if (c.args.size() > 3) return fail(c, "usage: sesctl group add ID EMAIL [JSON-DATA]", 2);
    json doc = {{"Datas", json::array({{{"Email", c.args[1]}}})}};
    if (c.args.size() == 3) doc["Datas"][0]["TemplateData"] = c.args[2];
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    return print_import(c, services::batch::import_members(*g, *id, doc.dump(), true));
}

int remove_members(Context& c) {
    auto id = id_arg(c);
    if (!id || c.args.size() < 2) return fail(c, "usage: sesctl group remove ID EMAIL...", 2);
    auto g = open_groups(c);
    if (!g) return fail(c, g.error().what);
    auto n = g->remove_members(*id, {c.args.begin() + 1, c.args.end()});
    if (!n) return fail(c, n.error().what);
    if (c.json)
        c.out << json{{"GroupId", *id}, {"Removed", *n}}.dump(2) << "\n";
    else
        c.out << "removed " << *n << " recipient(s)\n";
    return 0;
}

}  // namespace

std::vector<Command> group_commands() {
    return {
        {"group create", "NAME", "make a recipient group; prints its id", create},
        {"group list", "", "the recipient groups with their sizes", list},
        {"group show", "ID", "one recipient group", show},
        {"group delete", "ID", "delete a recipient group and its members", remove_group},
        {"group import", "ID FILE",
         "add recipients from a CSV file (header: email plus variable columns) or JSON {Datas}; bad rows are listed "
         "with their line numbers",
         import},
        {"group export", "ID", "print the group as CSV", export_csv},
        {"group add", "ID EMAIL [JSON-DATA]", "add one recipient (with its template variables)", add},
        {"group remove", "ID EMAIL...", "remove recipients", remove_members},
    };
}

}  // namespace ses::ctl
