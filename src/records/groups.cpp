// groups.cpp -- see groups.hpp.
#include "records/groups.hpp"

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "store/codec.hpp"
#include "store/schema.hpp"

namespace ses::records {
namespace {

using nlohmann::json;

constexpr uint8_t kGroupVersion = 1;
constexpr uint8_t kMemberVersion = 1;
constexpr std::string_view kSeqKey = "group_seq";

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
    return std::string(s.substr(b, e - b));
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// One CSV record from `text` at `pos`: its fields, or an error text.  `pos`
// moves past the record's line end; `lines` counts the physical lines it
// spanned (quoted fields may hold line breaks).
struct CsvRecord {
    std::vector<std::string> fields;
    std::string error;
    size_t bytes = 0;
    size_t lines = 1;
};

CsvRecord next_record(std::string_view text, size_t& pos) {
    CsvRecord r;
    size_t start = pos;
    std::string field;
    bool quoted = false, was_quoted = false;
    while (pos < text.size()) {
        char c = text[pos];
        if (quoted) {
            if (c == '"') {
                if (pos + 1 < text.size() && text[pos + 1] == '"') {
                    field += '"';
                    pos += 2;
                    continue;
                }
                quoted = false;
                ++pos;
                continue;
            }
            if (c == '\n') ++r.lines;
            field += c;
            ++pos;
            continue;
        }
        if (c == '"') {
            if (!trim(field).empty() || was_quoted) {
                // Kept as text so that the record still ends at its line end.
                if (r.error.empty())
                    r.error = "a quote inside an unquoted field (quote the whole field, double inner quotes)";
                field += c;
                ++pos;
                continue;
            }
            quoted = was_quoted = true;
            field.clear();
            ++pos;
            continue;
        }
        if (c == ',') {
            r.fields.push_back(was_quoted ? field : trim(field));
            field.clear();
            was_quoted = false;
            ++pos;
            continue;
        }
        if (c == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') {
            pos += 2;
            r.bytes = pos - start;
            r.fields.push_back(was_quoted ? field : trim(field));
            return r;
        }
        if (c == '\n') {
            ++pos;
            r.bytes = pos - start;
            r.fields.push_back(was_quoted ? field : trim(field));
            return r;
        }
        if (was_quoted && c != ' ' && c != '\t' && r.error.empty()) r.error = "text after a closing quote";
        field += c;
        ++pos;
    }
    if (quoted) r.error = "a quoted field is not closed before the end of the file";
    r.fields.push_back(was_quoted ? field : trim(field));
    r.bytes = pos - start;
    return r;
}

bool blank(const CsvRecord& r) { return r.fields.size() == 1 && r.fields[0].empty() && r.error.empty(); }

// Adds a row unless its address is bad or repeated.
void take_row(ParsedImport& out, std::set<std::string>& seen, std::string email, std::string data, size_t line,
              const GroupLimits& lim) {
    std::string key = member_key(email);
    if (key.empty()) {
        out.errors.push_back({line, "not an email address: \"" + email + "\""});
        return;
    }
    if (!seen.insert(key).second) {
        ++out.duplicates;
        return;
    }
    if (out.rows.size() >= lim.max_rows) {
        out.truncated = true;
        return;
    }
    out.rows.push_back({trim(email), std::move(data), line});
}

std::string u64_key(uint64_t id) {
    std::string k;
    store::put_u64be(k, id);
    return k;
}

std::string encode_group(const GroupInfo& g) {
    store::Writer w;
    w.u8(kGroupVersion).str(g.name).i64(g.created).u64(g.count);
    return w.take();
}

std::optional<GroupInfo> decode_group(uint64_t id, std::string_view v) {
    store::Reader r(v);
    if (r.u8() != kGroupVersion) return std::nullopt;
    GroupInfo g;
    g.id = id;
    g.name = r.str();
    g.created = r.i64();
    g.count = r.u64();
    if (!r.good()) return std::nullopt;
    return g;
}

}  // namespace

std::string member_key(std::string_view s) {
    std::string t = trim(s);
    if (t.size() > 254 || t.empty()) return "";
    size_t at = t.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= t.size() || t.find('@', at + 1) != std::string::npos) return "";
    for (unsigned char c : t)
        if (c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' || c == ',' || c == ';' || c == '(' || c == ')' ||
            c == '[' || c == ']' || c == '\\')
            return "";
    std::string domain = t.substr(at + 1);
    if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string::npos) return "";
    return lower(t);
}

std::string csv_field(std::string_view v) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos && (v.empty() || (v.front() != ' ' && v.back() != ' ')))
        return std::string(v);
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

ParsedImport parse_group_csv(std::string_view text, const GroupLimits& lim) {
    ParsedImport out;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a spreadsheet's BOM
    size_t pos = 0, line = 1;
    // The header: the first non-blank record.
    CsvRecord head;
    size_t head_line = 1;
    while (pos < text.size()) {
        head_line = line;
        head = next_record(text, pos);
        line += head.lines;
        if (!blank(head)) break;
    }
    if (head.fields.empty() || blank(head)) {
        out.errors.push_back({1, "no header row (expected a column named email)"});
        return out;
    }
    if (!head.error.empty()) {
        out.errors.push_back({head_line, "header: " + head.error});
        return out;
    }
    size_t email_col = SIZE_MAX;
    std::set<std::string> names;
    for (size_t i = 0; i < head.fields.size(); ++i) {
        const std::string& n = head.fields[i];
        if (lower(n) == "email") {
            if (email_col != SIZE_MAX) {
                out.errors.push_back({head_line, "header: two columns named email"});
                return out;
            }
            email_col = i;
            continue;
        }
        if (n.empty()) {
            out.errors.push_back({head_line, "header: column " + std::to_string(i + 1) + " has no name"});
            return out;
        }
        if (!names.insert(n).second) {
            out.errors.push_back({head_line, "header: two columns named " + n});
            return out;
        }
        out.columns.push_back(n);
    }
    if (email_col == SIZE_MAX) {
        out.errors.push_back({head_line, "header: no column named email"});
        return out;
    }
    std::set<std::string> seen;
    while (pos < text.size() && !out.truncated) {
        size_t at = line;
        CsvRecord r = next_record(text, pos);
        line += r.lines;
        if (blank(r)) continue;
        if (r.bytes > lim.max_row_bytes) {
            out.errors.push_back({at, "row longer than " + std::to_string(lim.max_row_bytes) + " bytes"});
            continue;
        }
        if (!r.error.empty()) {
            out.errors.push_back({at, r.error});
            continue;
        }
        if (r.fields.size() != head.fields.size()) {
            out.errors.push_back({at, std::to_string(r.fields.size()) + " fields, the header has " +
                                          std::to_string(head.fields.size())});
            continue;
        }
        json data = json::object();
        size_t v = 0;
        for (size_t i = 0; i < r.fields.size(); ++i) {
            if (i == email_col) continue;
            data[out.columns[v++]] = r.fields[i];
        }
        std::string text_data;
        try {
            text_data = data.dump();
        } catch (const json::exception&) {
            out.errors.push_back({at, "a field is not valid UTF-8"});
            continue;
        }
        take_row(out, seen, r.fields[email_col], std::move(text_data), at, lim);
    }
    return out;
}

ParsedImport parse_group_json(std::string_view text, const GroupLimits& lim) {
    ParsedImport out;
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("Datas") || !doc["Datas"].is_array()) {
        out.errors.push_back({0, "expected a JSON object {\"Datas\": [{\"Email\": ..., \"TemplateData\": ...}]}"});
        return out;
    }
    std::set<std::string> seen;
    size_t n = 0;
    for (const auto& e : doc["Datas"]) {
        ++n;
        if (out.truncated) break;
        if (!e.is_object() || !e.contains("Email") || !e["Email"].is_string()) {
            out.errors.push_back({n, "entry has no Email string"});
            continue;
        }
        if (e.dump().size() > lim.max_row_bytes) {
            out.errors.push_back({n, "entry longer than " + std::to_string(lim.max_row_bytes) + " bytes"});
            continue;
        }
        json data = json::object();
        if (e.contains("TemplateData")) {
            const json& td = e["TemplateData"];
            if (td.is_string()) {
                data = json::parse(td.get<std::string>(), nullptr, false);
            } else {
                data = td;
            }
            if (data.is_discarded() || !data.is_object()) {
                out.errors.push_back({n, "TemplateData is not a JSON object (or a string holding one)"});
                continue;
            }
        }
        take_row(out, seen, e["Email"].get<std::string>(), data.dump(), n, lim);
    }
    return out;
}

Groups::Groups(std::shared_ptr<store::Env> env, GroupLimits lim)
    : env_(std::move(env)),
      lim_(lim),
      groups_(env_->table(store::table::groups)),
      members_(env_->table(store::table::group_members)),
      meta_(env_->table(store::table::meta)) {}

Result<uint64_t> Groups::create(const std::string& name, int64_t now) {
    if (name.empty() || name.size() > 128) return Error{"a group name has 1 to 128 characters", {}};
    for (unsigned char c : name)
        if (c < ' ' || c == 0x7f) return Error{"a group name may not hold control characters", {}};
    uint64_t id = 0;
    Status st = env_->update([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, groups_);
        for (bool ok = c.first(); ok; ok = c.next()) {
            auto g = decode_group(store::get_u64be(c.key()), c.value());
            if (g && g->name == name)
                return Error{"a group named " + name + " exists (id " + std::to_string(g->id) + ")", {}};
        }
        auto v = txn.get(meta_, kSeqKey);
        id = (v ? store::get_u64be(*v) : 0) + 1;
        txn.put(meta_, kSeqKey, u64_key(id));
        txn.put(groups_, u64_key(id), encode_group({id, name, now, 0}));
        return txn.status();
    });
    if (!st) return st.error();
    return id;
}

Result<std::vector<GroupInfo>> Groups::list() const {
    std::vector<GroupInfo> out;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        store::Cursor c(txn, groups_);
        for (bool ok = c.first(); ok; ok = c.next())
            if (auto g = decode_group(store::get_u64be(c.key()), c.value())) out.push_back(std::move(*g));
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

std::optional<GroupInfo> Groups::get(store::Txn& txn, uint64_t id) const {
    auto v = txn.get(groups_, u64_key(id));
    if (!v) return std::nullopt;
    return decode_group(id, *v);
}

Result<std::optional<GroupInfo>> Groups::get(uint64_t id) const {
    std::optional<GroupInfo> out;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        out = get(txn, id);
        return txn.status();
    });
    if (!st) return st.error();
    return out;
}

Status Groups::remove(uint64_t id) {
    return env_->update([&](store::Txn& txn) -> Status {
        if (!txn.del(groups_, u64_key(id))) {
            if (!txn.status()) return txn.status();
            return Error{"no group " + std::to_string(id), {}};
        }
        std::string prefix = u64_key(id);
        store::Cursor c(txn, members_);
        // A deleted entry leaves the cursor unpositioned: seek again.
        while (c.seek(prefix) && c.key().substr(0, 8) == prefix)
            if (!c.del()) break;
        return txn.status();
    });
}

Result<ImportReport> Groups::add(uint64_t id, const std::vector<GroupRow>& rows) {
    ImportReport rep;
    Status st = env_->update([&](store::Txn& txn) -> Status {
        rep = {};
        auto g = get(txn, id);
        if (!g) return Error{"no group " + std::to_string(id), {}};
        for (const auto& r : rows) {
            std::string key = u64_key(id) + member_key(r.email);
            if (txn.get(members_, key))
                ++rep.replaced;
            else
                ++rep.added;
            store::Writer w;
            w.u8(kMemberVersion).str(r.email).str(r.data);
            txn.put(members_, key, w.bytes());
        }
        if (g->count + rep.added > lim_.max_rows)
            return Error{"group " + std::to_string(id) + " would hold " + std::to_string(g->count + rep.added) +
                             " recipients, more than tasks.max_rows = " + std::to_string(lim_.max_rows),
                         {}};
        g->count += rep.added;
        txn.put(groups_, u64_key(id), encode_group(*g));
        return txn.status();
    });
    if (!st) return st.error();
    return rep;
}

Result<size_t> Groups::remove_members(uint64_t id, const std::vector<std::string>& emails) {
    size_t n = 0;
    Status st = env_->update([&](store::Txn& txn) -> Status {
        n = 0;
        auto g = get(txn, id);
        if (!g) return Error{"no group " + std::to_string(id), {}};
        for (const auto& e : emails)
            if (txn.del(members_, u64_key(id) + member_key(e))) ++n;
        g->count -= std::min<uint64_t>(g->count, n);
        txn.put(groups_, u64_key(id), encode_group(*g));
        return txn.status();
    });
    if (!st) return st.error();
    return n;
}

std::vector<Member> Groups::members(store::Txn& txn, uint64_t id, std::string_view after_key, size_t n) const {
    std::vector<Member> out;
    std::string prefix = u64_key(id);
    store::Cursor c(txn, members_);
    bool ok = c.seek(prefix + std::string(after_key));
    if (ok && !after_key.empty() && c.key().substr(8) == after_key) ok = c.next();
    for (; ok && out.size() < n && c.key().substr(0, 8) == prefix; ok = c.next()) {
        store::Reader r(c.value());
        if (r.u8() != kMemberVersion) continue;
        Member m;
        m.key = std::string(c.key().substr(8));
        m.email = r.str();
        m.data = r.str();
        out.push_back(std::move(m));
    }
    return out;
}

std::optional<Member> Groups::member(store::Txn& txn, uint64_t id, std::string_view key) const {
    auto v = txn.get(members_, u64_key(id) + std::string(key));
    if (!v) return std::nullopt;
    store::Reader r(*v);
    if (r.u8() != kMemberVersion) return std::nullopt;
    Member m;
    m.key = std::string(key);
    m.email = r.str();
    m.data = r.str();
    return m;
}

Result<std::string> Groups::export_csv(uint64_t id) const {
    std::vector<Member> all;
    Status st = env_->view([&](store::Txn& txn) -> Status {
        if (!get(txn, id)) return Error{"no group " + std::to_string(id), {}};
        all = members(txn, id, "", SIZE_MAX);
        return txn.status();
    });
    if (!st) return st.error();
    std::vector<std::string> cols;
    std::set<std::string> known;
    std::vector<json> data;
    for (const auto& m : all) {
        data.push_back(json::parse(m.data, nullptr, false));
        if (!data.back().is_object()) data.back() = json::object();
        for (const auto& [k, v] : data.back().items())
            if (known.insert(k).second) cols.push_back(k);
    }
    std::string out = "email";
    for (const auto& c : cols) out += "," + csv_field(c);
    out += "\r\n";
    for (size_t i = 0; i < all.size(); ++i) {
        out += csv_field(all[i].email);
        for (const auto& c : cols) {
            out += ",";
            if (!data[i].contains(c)) continue;
            const json& v = data[i][c];
            out += csv_field(v.is_string() ? v.get<std::string>() : v.dump());
        }
        out += "\r\n";
    }
    return out;
}

}  // namespace ses::records
