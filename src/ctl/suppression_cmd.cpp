// suppression_cmd.cpp -- `sesctl suppression add|remove|list|import|export`.
//
// Each command opens the store shared with a running sesmilter and runs one
// short transaction.  CSV (import and export) has the columns
//   address,reason,scope,time,source,expires
// with a header line; import needs only `address` (reason defaults to
// manual, scope to global, time to now, expires to never) and takes times
// as RFC 3339 or Unix seconds.  Import is per row: the good rows are
// imported (in one transaction), every bad row is reported with its line
// number, and the command then exits 1 so that scripts notice.
//
// Errors: a store that cannot be opened, a file that cannot be read or bad
// options fail the command (exit 1 / 2) with a message.
#include "ctl/suppression_cmd.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "ctl/open_store.hpp"
#include "records/suppression.hpp"
#include "store/settings.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ses::ctl {
namespace {

using nlohmann::json;
using records::SuppressionEntry;

struct Opened {
    std::shared_ptr<store::Env> env;
    std::shared_ptr<records::SuppressionList> list;
};

Result<Opened> open_list(Context& c) {
    auto env = open_store(c.cfg);
    if (!env) return Error{"store: " + env.error().what, {}};
    // A fleet's list is the shared one (docs/fleet.md): read and written there.
    std::shared_ptr<store::SharedState> shared;
    if (auto so = store::shared_options_from(c.cfg); so.backend != "lmdb") {
        auto sh = store::open_shared_state(so, *env);
        if (!sh) return Error{"store.redis_url: " + sh.error().what, {}};
        shared = *sh;
    }
    auto list = records::SuppressionList::open(*env, {}, shared);
    if (!list) return list.error();
    return Opened{*env, *list};
}

std::string time_text(int64_t t) { return t ? clock::format_rfc3339(t) : std::string(); }

json entry_json(const SuppressionEntry& e, int64_t now) {
    return json{{"Address", e.address},
                {"Scope", e.scope.empty() ? "global" : e.scope},
                {"Reason", std::string(records::reason_name(e.reason))},
                {"Time", e.time},
                {"SourceMessageId", e.source},
                {"Expires", e.expires},
                {"Expired", e.expired(now)}};
}

// A time column: empty, Unix seconds or RFC 3339.
std::optional<int64_t> parse_time(std::string_view s) {
    if (s.empty()) return int64_t{0};
    if (s.find_first_not_of("0123456789") == std::string_view::npos && s.size() < 19) return std::stoll(std::string(s));
    return clock::parse_rfc3339(std::string(s));
}

// One CSV line into fields: commas, double quotes around a field ("" in
// one is a quote).  nullopt for an unterminated quote.
std::optional<std::vector<std::string>> csv_fields(std::string_view line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        char ch = line[i];
        if (quoted) {
            if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back() += '"';
                ++i;
            } else if (ch == '"') {
                quoted = false;
            } else {
                out.back() += ch;
            }
        } else if (ch == '"') {
            quoted = true;
        } else if (ch == ',') {
            out.emplace_back();
        } else {
            out.back() += ch;
        }
    }
    if (quoted) return std::nullopt;
    for (auto& f : out) f = std::string(str::trim(f));
    return out;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
}

std::optional<std::string> scope_option(Context& c) {
    if (auto i = c.opt("identity")) return str::lower(*i);
    return std::nullopt;
}

int add(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl suppression add ADDRESS [--reason R] [--identity D]", 2);
    SuppressionEntry e;
    e.address = c.args[0];
    if (records::normalize_address(e.address).empty()) return fail(c, "not an address: " + e.address, 2);
    if (auto r = c.opt("reason")) {
        auto p = records::parse_reason(*r);
        if (!p) return fail(c, "--reason: one of hard_bounce, complaint, unsubscribe, manual; got " + *r, 2);
        e.reason = *p;
    }
    e.scope = scope_option(c).value_or("");
    e.time = clock::now();
    auto o = open_list(c);
    if (!o) return fail(c, o.error().what);
    if (auto st = o->env->update([&](store::Txn& txn) { return o->list->put(txn, e); }); !st)
        return fail(c, st.error().what);
    e.address = records::normalize_address(e.address);
    if (c.json)
        c.out << json{{"Added", entry_json(e, e.time)}}.dump(2) << "\n";
    else
        c.out << "added " << e.address << " (" << records::reason_name(e.reason) << ", "
              << (e.scope.empty() ? "global" : e.scope) << ")\n";
    return 0;
}

int remove(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl suppression remove ADDRESS [--identity D]", 2);
    auto o = open_list(c);
    if (!o) return fail(c, o.error().what);
    size_t n = 0;
    auto scope = scope_option(c);
    if (auto st = o->env->update([&](store::Txn& txn) -> Status {
            n = o->list->remove(txn, c.args[0], scope);
            return txn.status();
        });
        !st)
        return fail(c, st.error().what);
    if (n == 0) return fail(c, "not on the list: " + c.args[0] + (scope ? " (identity " + *scope + ")" : ""));
    if (c.json)
        c.out << json{{"Removed", n}}.dump() << "\n";
    else
        c.out << "removed " << n << " entr" << (n == 1 ? "y" : "ies") << " of " << records::normalize_address(c.args[0])
              << "\n";
    return 0;
}

Result<std::vector<SuppressionEntry>> read_all(Context& c) {
    auto o = open_list(c);
    if (!o) return o.error();
    std::vector<SuppressionEntry> all;
    if (auto st = o->env->view([&](store::Txn& txn) {
            all = o->list->list(txn);
            return txn.status();
        });
        !st)
        return st.error();
    auto scope = scope_option(c);
    auto reason = c.opt("reason");
    std::vector<SuppressionEntry> out;
    for (auto& e : all) {
        if (scope && e.scope != *scope) continue;
        if (reason && records::reason_name(e.reason) != *reason) continue;
        out.push_back(std::move(e));
    }
    return out;
}

int list(Context& c) {
    auto all = read_all(c);
    if (!all) return fail(c, all.error().what);
    int64_t now = clock::now();
    if (c.json) {
        json a = json::array();
        for (auto& e : *all) a.push_back(entry_json(e, now));
        c.out << json{{"Suppressed", a}}.dump(2) << "\n";
        return 0;
    }
    for (auto& e : *all) {
        c.out << e.address << "  " << (e.scope.empty() ? "global" : e.scope) << "  " << records::reason_name(e.reason)
              << "  " << time_text(e.time);
        if (!e.source.empty()) c.out << "  " << e.source;
        if (e.expires) c.out << (e.expired(now) ? "  expired " : "  expires ") << time_text(e.expires);
        c.out << "\n";
    }
    if (all->empty()) c.out << "the suppression list is empty\n";
    return 0;
}

int export_csv(Context& c) {
    auto all = read_all(c);
    if (!all) return fail(c, all.error().what);
    c.out << "address,reason,scope,time,source,expires\n";
    for (auto& e : *all)
        c.out << csv_field(e.address) << "," << records::reason_name(e.reason) << "," << csv_field(e.scope) << ","
              << time_text(e.time) << "," << csv_field(e.source) << "," << time_text(e.expires) << "\n";
    return 0;
}

int import_csv(Context& c) {
    if (c.args.size() != 1) return fail(c, "usage: sesctl suppression import FILE.csv [--identity D]", 2);
    std::ifstream in(c.args[0], std::ios::binary);
    if (!in) return fail(c, "cannot read " + c.args[0]);
    int64_t now = clock::now();
    std::vector<SuppressionEntry> good;
    std::vector<std::pair<size_t, std::string>> bad;  // line number, why
    std::string line;
    auto default_scope = scope_option(c).value_or("");
    for (size_t n = 1; std::getline(in, line); ++n) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (str::trim(line).empty() || str::trim(line)[0] == '#') continue;
        auto f = csv_fields(line);
        if (!f) {
            bad.emplace_back(n, "unterminated quote");
            continue;
        }
        f->resize(std::max<size_t>(f->size(), 6));
        if (n == 1 && str::lower((*f)[0]) == "address") continue;  // the header line
        SuppressionEntry e;
        e.address = records::normalize_address((*f)[0]);
        if (e.address.empty()) {
            bad.emplace_back(n, "not an address: \"" + (*f)[0] + "\"");
            continue;
        }
        if (!(*f)[1].empty()) {
            auto r = records::parse_reason((*f)[1]);
            if (!r) {
                bad.emplace_back(n, "unknown reason \"" + (*f)[1] + "\"");
                continue;
            }
            e.reason = *r;
        }
        e.scope = (*f)[2].empty() || (*f)[2] == "global" ? default_scope : str::lower((*f)[2]);
        auto t = parse_time((*f)[3]);
        auto x = parse_time((*f)[5]);
        if (!t || !x) {
            bad.emplace_back(n, "not a time (RFC 3339 or Unix seconds): \"" + (!t ? (*f)[3] : (*f)[5]) + "\"");
            continue;
        }
        e.time = *t ? *t : now;
        e.source = (*f)[4];
        e.expires = *x;
        good.push_back(std::move(e));
    }
    auto o = open_list(c);
    if (!o) return fail(c, o.error().what);
    if (auto st = o->env->update([&](store::Txn& txn) -> Status {
            for (const auto& e : good)
                if (auto s = o->list->put(txn, e); !s) return s;
            return txn.status();
        });
        !st)
        return fail(c, st.error().what);
    if (c.json) {
        json b = json::array();
        for (auto& [n, why] : bad) b.push_back(json{{"Line", n}, {"Error", why}});
        c.out << json{{"Imported", good.size()}, {"Bad", b}}.dump(2) << "\n";
    } else {
        c.out << "imported " << good.size() << " entr" << (good.size() == 1 ? "y" : "ies") << "\n";
        for (auto& [n, why] : bad) c.err << "sesctl: " << c.args[0] << ":" << n << ": " << why << "\n";
        if (!bad.empty()) c.err << "sesctl: " << bad.size() << " bad line(s) skipped\n";
    }
    return bad.empty() ? 0 : 1;
}

}  // namespace

std::vector<Command> suppression_commands() {
    return {
        {"suppression add", "ADDRESS [--reason hard_bounce|complaint|unsubscribe|manual] [--identity D]",
         "put an address on the suppression list (global, or for one identity) (docs/suppression.md)", add},
        {"suppression remove", "ADDRESS [--identity D]",
         "take an address off the list (every scope, or only --identity's)", remove},
        {"suppression list", "[--identity D] [--reason R]", "the suppression list", list},
        {"suppression import", "FILE.csv [--identity D]",
         "add the rows of a CSV file (address[,reason,scope,time,source,expires]); bad rows are reported by "
         "line number and skipped",
         import_csv},
        {"suppression export", "[--identity D] [--reason R]", "the list as CSV on stdout", export_csv},
    };
}

}  // namespace ses::ctl
