// template_cmd.cpp -- `sesctl template put|get|list|delete|render|show|preview|import|export|failures`.
//
// Templates live in the LMDB store the daemon reads (table `templates`), so
// a put is visible to the next message without a reload.  put and import
// run the same checks as the daemon (a template that does not parse is
// refused with the position of the error); import checks every file before
// storing any.  render prints the full MIME message the milter would
// produce for the given data, or the 554 reply it would give.
#include "ctl/template_cmd.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "config/config.hpp"
#include "ctl/open_store.hpp"
#include "mail/message.hpp"
#include "services/template_api.hpp"
#include "template/lmdb_store.hpp"
#include "template/request.hpp"
#include "template/stage.hpp"
#include "template/template.hpp"
#include "util/clock.hpp"

namespace ses::ctl {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

Result<std::unique_ptr<tmpl::LmdbTemplateStore>> open_templates(Context& c) {
    auto env = ctl::open_store(c.cfg);
    if (!env) return env.error();
    return tmpl::LmdbTemplateStore::open(*env);
}

Result<std::string> read_file(const std::string& path) {
    if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
    std::ifstream in(path, std::ios::binary);
    if (!in) return internal_error(path + ": cannot read");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return internal_error(path + ": read error");
    return s;
}

Status write_file(const fs::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
    out.close();
    if (!out) return internal_error(p.string() + ": cannot write");
    return ok_status();
}

std::string rfc5322_date(int64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string when(int64_t t) { return t ? clock::format_rfc3339(t) : "-"; }

json summary(const tmpl::Template& t) {
    return json{{"id", t.id ? json(t.id) : json(nullptr)},
                {"name", t.name},
                {"subject", t.subject},
                {"html", t.html.has_value()},
                {"text", t.text.has_value()},
                {"strict", t.strict},
                {"created", when(t.created)},
                {"updated", when(t.updated)}};
}

// Normalise default data to compact JSON text ("" stays "").
Result<std::string> normal_data(const std::string& text) {
    if (text.empty()) return std::string();
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return internal_error("default data is not valid JSON");
    if (!j.is_object()) return internal_error("default data is not a JSON object");
    return j.dump();
}

using Stored = services::templates::Stored;

// The same store step as POST /v1/templates.
Result<Stored> store_one(tmpl::TemplateStore& st, const tmpl::Template& t) {
    return services::templates::store(st, t, clock::now());
}

int put(Context& c) {
    if (c.args.size() != 1)
        return fail(c, "usage: sesctl template put NAME --subject S [--html FILE] [--text FILE]", 2);
    tmpl::Template t;
    t.name = c.args[0];
    auto subject = c.opt("subject");
    if (!subject) return fail(c, "template put needs --subject", 2);
    t.subject = *subject;
    if (auto f = c.opt("html")) {
        auto s = read_file(*f);
        if (!s) return fail(c, s.error().what);
        t.html = std::move(*s);
    }
    if (auto f = c.opt("text")) {
        auto s = read_file(*f);
        if (!s) return fail(c, s.error().what);
        t.text = std::move(*s);
    }
    std::string data = c.opt("default-data").value_or("");
    if (auto f = c.opt("default-data-file")) {
        auto s = read_file(*f);
        if (!s) return fail(c, s.error().what);
        data = *s;
    }
    auto nd = normal_data(data);
    if (!nd) return fail(c, "template " + t.name + ": " + nd.error().what);
    t.default_data = *nd;
    t.strict = !c.flag("lenient");
    if (auto st = tmpl::check(t); !st) return fail(c, st.error().what);

    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto r = store_one(**st, t);
    if (!r) return fail(c, r.error().what);
    const char* what = *r == Stored::added ? "added" : *r == Stored::replaced ? "replaced" : "unchanged";
    if (c.json)
        c.out << json{{"template", t.name}, {"result", what}}.dump() << "\n";
    else
        c.out << "Template " << t.name << ": " << what << ".\n";
    return 0;
}

Result<tmpl::Template> fetch(tmpl::TemplateStore& st, const std::string& name) {
    auto t = st.get(name);
    if (!t) return t.error();
    if (!*t) return internal_error("no such template: " + name);
    return **t;
}

int get(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl template get NAME", 2);
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto t = fetch(**st, c.args[0]);
    if (!t) return fail(c, t.error().what);
    if (c.json) {
        c.out << tmpl::to_json(*t).dump(2) << "\n";
        return 0;
    }
    c.out << "name:     " << t->name << "\n"
          << "subject:  " << t->subject << "\n"
          << "strict:   " << (t->strict ? "yes" : "no (missing variables render empty)") << "\n"
          << "created:  " << when(t->created) << "\n"
          << "updated:  " << when(t->updated) << "\n"
          << "defaults: " << (t->default_data.empty() ? "-" : t->default_data) << "\n";
    if (t->text) c.out << "\n--- text ---\n" << *t->text << (t->text->ends_with('\n') ? "" : "\n");
    if (t->html) c.out << "\n--- html ---\n" << *t->html << (t->html->ends_with('\n') ? "" : "\n");
    return 0;
}

int list(Context& c) {
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto all = (*st)->list();
    if (!all) return fail(c, all.error().what);
    if (c.json) {
        json arr = json::array();
        for (auto& t : *all) arr.push_back(summary(t));
        c.out << json{{"templates", arr}}.dump(2) << "\n";
        return 0;
    }
    if (all->empty()) {
        c.out << "No templates.\n";
        return 0;
    }
    size_t w = 4;
    for (auto& t : *all) w = std::max(w, t.name.size());
    c.out << "ID      NAME" << std::string(w - 4 + 2, ' ') << "PARTS      UPDATED               SUBJECT\n";
    for (auto& t : *all) {
        std::string parts = t.text && t.html ? "text+html" : t.html ? "html" : "text";
        std::string id = t.id ? std::to_string(t.id) : "-";
        c.out << id << std::string(id.size() < 8 ? 8 - id.size() : 1, ' ') << t.name
              << std::string(w - t.name.size() + 2, ' ') << parts << std::string(11 - parts.size(), ' ')
              << when(t.updated) << "  " << t.subject << "\n";
    }
    return 0;
}

int remove(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl template delete NAME", 2);
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto r = (*st)->remove(c.args[0]);
    if (!r) return fail(c, r.error().what);
    if (!*r) return fail(c, "no such template: " + c.args[0]);
    if (c.json)
        c.out << json{{"deleted", c.args[0]}}.dump() << "\n";
    else
        c.out << "Deleted template " << c.args[0] << ".\n";
    return 0;
}

int render(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl template render NAME [--data JSON | --data-file FILE]", 2);
    std::string data = c.opt("data").value_or("{}");
    if (auto f = c.opt("data-file")) {
        auto s = read_file(*f);
        if (!s) return fail(c, s.error().what);
        data = *s;
    }
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);

    // The message a client would submit, through the same stage as in the
    // milter (so the errors are the replies it would get).
    mail::Message m;
    m.feed_header("From", " " + c.opt("from").value_or("sender@example.com"));
    m.feed_header("To", " " + c.opt("to").value_or("recipient@example.com"));
    m.feed_header("Date", " " + rfc5322_date(clock::now()));
    m.feed_header("Subject", " (from the template)");
    m.feed_header(std::string(tmpl::kTemplateHeader), " " + c.args[0]);
    m.feed_header(std::string(tmpl::kDataHeader), " " + data);
    m.feed_body("\r\n");
    tmpl::Settings s;
    s.max_message_size = c.cfg.milter.max_message_size;
    auto r = tmpl::template_stage(m, **st, s);
    if (!r) {
        std::string text = r.error().reply.empty() ? r.error().what : r.error().reply.str();
        return fail(c, text);
    }
    std::string msg = tmpl::serialize(m);
    if (c.json)
        c.out << json{{"template", c.args[0]}, {"size", msg.size()}, {"message", msg}}.dump(2) << "\n";
    else
        c.out << msg;
    return 0;
}

// The document of GET /v1/templates/ID (the same builder), by name or id.
int show(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl template show NAME|ID", 2);
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto t = services::templates::lookup(**st, c.args[0]);
    if (!t) return fail(c, t.error().what);
    if (!*t) return fail(c, "no such template: " + c.args[0]);
    c.out << services::templates::document(**t).dump(2) << "\n";
    return 0;
}

// The rendered Subject and parts, the document of POST
// /v1/templates/ID/preview (the same builder and render step).
int preview(Context& c) {
    if (c.args.size() != 1)
        return fail(c, "usage: sesctl template preview NAME|ID [--data JSON | --data-file FILE]", 2);
    std::string data = c.opt("data").value_or("{}");
    if (auto f = c.opt("data-file")) {
        auto s = read_file(*f);
        if (!s) return fail(c, s.error().what);
        data = *s;
    }
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto t = services::templates::lookup(**st, c.args[0]);
    if (!t) return fail(c, t.error().what);
    if (!*t) return fail(c, "no such template: " + c.args[0]);
    auto d = services::templates::template_data(json(data));
    if (!d) return fail(c, d.error().what, 2);
    auto r = services::templates::preview(**t, std::move(*d), c.cfg.milter.max_message_size);
    if (!r) return fail(c, "template " + (*t)->name + ": " + r.error().what);
    if (c.json) {
        c.out << services::templates::preview_document(**t, *r).dump(2) << "\n";
        return 0;
    }
    c.out << "Subject: " << r->subject << "\n";
    if (r->text) c.out << "\n--- text ---\n" << *r->text << (r->text->ends_with('\n') ? "" : "\n");
    if (r->html) c.out << "\n--- html ---\n" << *r->html << (r->html->ends_with('\n') ? "" : "\n");
    return 0;
}

// ---- import / export ----------------------------------------------------------
//
// A directory holds, per template, NAME.json (the document: name, subject,
// strict, default_data, created, updated) and the parts beside it in
// NAME.html and NAME.txt.  A document may instead carry "html"/"text"
// inline.

int export_dir(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl template export DIR", 2);
    fs::path dir = c.args[0];
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail(c, dir.string() + ": " + ec.message());
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto all = (*st)->list();
    if (!all) return fail(c, all.error().what);
    json names = json::array();
    for (auto& t : *all) {
        // No times: the files stay the same until the template changes.
        json doc = tmpl::to_json(t);
        doc.erase("html");
        doc.erase("text");
        doc.erase("created");
        doc.erase("updated");
        if (t.html) {
            doc["html_file"] = t.name + ".html";
            if (auto s = write_file(dir / (t.name + ".html"), *t.html); !s) return fail(c, s.error().what);
        }
        if (t.text) {
            doc["text_file"] = t.name + ".txt";
            if (auto s = write_file(dir / (t.name + ".txt"), *t.text); !s) return fail(c, s.error().what);
        }
        if (auto s = write_file(dir / (t.name + ".json"), doc.dump(2) + "\n"); !s) return fail(c, s.error().what);
        names.push_back(t.name);
    }
    if (c.json)
        c.out << json{{"exported", names}, {"dir", dir.string()}}.dump(2) << "\n";
    else
        c.out << "Exported " << names.size() << " template" << (names.size() == 1 ? "" : "s") << " to " << dir.string()
              << ".\n";
    return 0;
}

Result<tmpl::Template> load_doc(const fs::path& file) {
    auto text = read_file(file.string());
    if (!text) return text.error();
    json doc = json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return internal_error(file.string() + ": not a JSON object");
    for (auto [key, field] : {std::pair{"html_file", "html"}, std::pair{"text_file", "text"}}) {
        if (!doc.contains(key)) continue;
        if (!doc[key].is_string()) return internal_error(file.string() + ": " + key + " is not a string");
        fs::path part = fs::path(doc[key].get<std::string>());
        if (part.is_relative()) part = file.parent_path() / part;
        auto body = read_file(part.string());
        if (!body) return internal_error(file.string() + ": " + body.error().what);
        doc[field] = *body;
    }
    auto t = tmpl::from_json(doc);
    if (!t) return internal_error(file.string() + ": " + t.error().what);
    if (file.stem().string() != t->name)
        return internal_error(file.string() + ": the file is named after another template than " + t->name);
    if (auto nd = normal_data(t->default_data); !nd)
        return internal_error(file.string() + ": " + nd.error().what);
    else
        t->default_data = *nd;
    if (auto s = tmpl::check(*t); !s) return internal_error(file.string() + ": " + s.error().what);
    return t;
}

int import_dir(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl template import DIR [--dry-run]", 2);
    fs::path dir = c.args[0];
    std::error_code ec;
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    if (ec) return fail(c, dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());

    // Check everything first: a directory imports whole or not at all.
    std::vector<tmpl::Template> ts;
    std::vector<std::string> errors;
    for (auto& f : files) {
        auto t = load_doc(f);
        if (t)
            ts.push_back(std::move(*t));
        else
            errors.push_back(t.error().what);
    }
    if (!errors.empty()) {
        if (c.json) {
            c.out << json{{"error", "nothing imported"}, {"problems", errors}}.dump(2) << "\n";
        } else {
            for (auto& e : errors) c.err << "sesctl: " << e << "\n";
            c.err << "sesctl: nothing imported\n";
        }
        return 1;
    }
    json added = json::array(), replaced = json::array(), unchanged = json::array(), checked = json::array();
    if (c.flag("dry-run")) {
        for (auto& t : ts) checked.push_back(t.name);
        if (c.json)
            c.out << json{{"checked", checked}, {"dry_run", true}}.dump(2) << "\n";
        else
            c.out << "Checked " << ts.size() << " template" << (ts.size() == 1 ? "" : "s") << " in " << dir.string()
                  << ": all valid.\n";
        return 0;
    }
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    for (auto& t : ts) {
        auto r = store_one(**st, t);
        if (!r) return fail(c, r.error().what);
        (*r == Stored::added ? added : *r == Stored::replaced ? replaced : unchanged).push_back(t.name);
    }
    if (c.json)
        c.out << json{{"added", added}, {"replaced", replaced}, {"unchanged", unchanged}}.dump(2) << "\n";
    else
        c.out << "Imported " << ts.size() << " template" << (ts.size() == 1 ? "" : "s") << " from " << dir.string()
              << ": " << added.size() << " added, " << replaced.size() << " replaced, " << unchanged.size()
              << " unchanged.\n";
    return 0;
}

int failures(Context& c) {
    int64_t since = 0;
    if (auto s = c.opt("since")) {
        auto t = clock::parse_rfc3339(*s);
        if (!t) return fail(c, "--since: not an RFC 3339 time: " + *s, 2);
        since = *t;
    }
    size_t limit = 50;
    if (auto l = c.opt("limit")) limit = std::strtoul(l->c_str(), nullptr, 10);
    auto st = open_templates(c);
    if (!st) return fail(c, st.error().what);
    auto fl = (*st)->failures(since, limit);
    if (!fl) return fail(c, fl.error().what);
    if (c.json) {
        json arr = json::array();
        for (auto& f : *fl) arr.push_back(tmpl::to_json(f));
        c.out << json{{"failures", arr}}.dump(2) << "\n";
        return 0;
    }
    if (fl->empty()) c.out << "No rendering failures.\n";
    for (auto& f : *fl)
        c.out << when(f.time) << "  " << (f.queue_id.empty() ? "-" : f.queue_id) << "  "
              << (f.template_name.empty() ? "-" : f.template_name) << "  " << f.reason << "\n";
    return 0;
}

}  // namespace

std::vector<Command> template_commands() {
    return {
        {"template put",
         "NAME --subject S [--html FILE] [--text FILE] [--default-data JSON | --default-data-file FILE] [--lenient]",
         "store a template (checked first; FILE - reads stdin; --lenient renders missing variables empty)",
         put,
         {"lenient"}},
        {"template get", "NAME", "show a template", get},
        {"template list", "", "list the templates", list},
        {"template delete", "NAME", "delete a template", remove},
        {"template render", "NAME [--data JSON | --data-file FILE] [--from A] [--to A]",
         "print the MIME message the milter would make from the template and data", render},
        {"template show", "NAME|ID", "a template as GET /v1/templates/ID shows it (JSON, with its id)", show},
        {"template preview", "NAME|ID [--data JSON | --data-file FILE]",
         "the rendered Subject and parts (what POST /v1/templates/ID/preview answers)", preview},
        {"template import",
         "DIR [--dry-run]",
         "store every DIR/NAME.json (+ NAME.html, NAME.txt); all are checked before any is stored",
         import_dir,
         {"dry-run"}},
        {"template export", "DIR", "write every template as DIR/NAME.json, NAME.html, NAME.txt", export_dir},
        {"template failures", "[--since TIME] [--limit N]", "recent rendering failures, newest first", failures},
    };
}

}  // namespace ses::ctl
