// render.cpp -- see render.hpp.
#include "template/render.hpp"

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

namespace ses::tmpl {

namespace mu = kainjow::mustache;
using json = nlohmann::json;

namespace {

// Thrown out of Mustache's render loop (which is exception-neutral: its
// context pushes are RAII) when a limit is passed.
struct LimitExceeded {
    std::string what;
};

// The tags of one part, read from the library's own parse tree.
struct Tags {
    std::set<std::string> sections;  // names used by {{#x}} or {{^x}}
    std::string error;               // parse error, "" if none
};

Tags scan(std::string_view part, const std::string& text) {
    Tags tags;
    mu::context<std::string> ctx;
    mu::context_internal<std::string> internal{ctx};
    mu::component<std::string> root;
    std::string error;
    mu::parser<std::string> parser{text, internal, root, error};
    if (!error.empty()) {
        // "Unclosed tag at 12" -> "html: line 1, column 13: Unclosed tag"
        std::string msg = error;
        size_t at = error.rfind(" at ");
        if (at != std::string::npos) {
            try {
                size_t off = std::stoul(error.substr(at + 4));
                msg = position_of(text, off) + ": " + error.substr(0, at);
            } catch (const std::exception&) {
            }
        }
        tags.error = std::string(part) + ": " + msg;
        return tags;
    }
    root.walk_children([&](mu::component<std::string>& c) {
        using T = mu::tag_type;
        if (c.tag.type == T::section_begin || c.tag.type == T::section_begin_inverted) tags.sections.insert(c.tag.name);
        if (c.tag.type == T::partial && tags.error.empty())
            tags.error = std::string(part) + ": " + position_of(text, c.position) + ": partial {{>" + c.tag.name +
                         "}} is not supported";
        return mu::component<std::string>::walk_control::walk;
    });
    return tags;
}

// JSON -> Mustache data.
mu::data to_data(const json& j, int depth, int max_depth) {
    if (depth > max_depth) throw LimitExceeded{"data nested deeper than " + std::to_string(max_depth) + " levels"};
    switch (j.type()) {
        case json::value_t::object: {
            mu::data d{mu::data::type::object};
            for (auto it = j.begin(); it != j.end(); ++it) d[it.key()] = to_data(*it, depth + 1, max_depth);
            return d;
        }
        case json::value_t::array: {
            mu::data d{mu::data::type::list};
            for (auto& v : j) d.push_back(to_data(v, depth + 1, max_depth));
            return d;
        }
        case json::value_t::string:
            return mu::data{j.get_ref<const std::string&>()};
        case json::value_t::boolean:
            return mu::data{j.get<bool>()};
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
        case json::value_t::number_float:
            return mu::data{j.dump()};
        default:  // null, binary, discarded
            return mu::data{false};
    }
}

// A context that notes what the library cannot report itself: variables
// missing from the data, values unfit for a header, and the work done.
class CheckingContext : public mu::context<std::string> {
public:
    CheckingContext(const mu::data* root, const Tags& tags, bool strict, bool header, size_t& lookups,
                    size_t max_lookups)
        : mu::context<std::string>(root),
          tags_(tags),
          strict_(strict),
          header_(header),
          lookups_(lookups),
          max_lookups_(max_lookups) {}

    const mu::data* get(const std::string& name) const override {
        if (++lookups_ > max_lookups_)
            throw LimitExceeded{"more than " + std::to_string(max_lookups_) + " look-ups (a loop over large data?)"};
        const mu::data* v = mu::context<std::string>::get(name);
        if (!v && strict_ && !tags_.sections.count(name) && missing_.size() < 10) {
            if (std::find(missing_.begin(), missing_.end(), name) == missing_.end()) missing_.push_back(name);
        }
        if (v && header_ && v->is_string() && bad_header_.empty() &&
            v->string_value().find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
            bad_header_ = name;
        return v;
    }
    const mu::data* get_partial(const std::string&) const override { return nullptr; }

    const std::vector<std::string>& missing() const { return missing_; }
    const std::string& bad_header() const { return bad_header_; }

private:
    const Tags& tags_;
    bool strict_;
    bool header_;
    size_t& lookups_;
    size_t max_lookups_;
    mutable std::vector<std::string> missing_;
    mutable std::string bad_header_;
};

// Output sink for render(ctx, stream): counts bytes against the budget.
struct CappedOutput {
    std::string s;
    size_t& budget;
    size_t limit;
    CappedOutput& operator<<(const std::string& x) {
        if (x.size() > budget)
            throw LimitExceeded{"rendered parts are over the limit of " + std::to_string(limit) + " bytes"};
        budget -= x.size();
        s += x;
        return *this;
    }
};

enum class Escape { html, none };

// Parsed parts, shared by all threads.  Parsing is what costs (kainjow
// copies its parse tree as it grows: about 7 ms for 20 KB of HTML, against
// 40 us to render), so each part is parsed once and kept.  A parsed
// Mustache object is leased to one thread at a time and handed back after
// a clean render; render() is never called on one object concurrently.
class PartCache {
public:
    struct Entry {
        Tags tags;
        std::vector<std::unique_ptr<mu::mustache>> idle;  // guarded by mu_
        uint64_t used = 0;                                // guarded by mu_
    };

    class Lease {
    public:
        Lease(PartCache& c, std::string key, std::shared_ptr<Entry> e, std::unique_ptr<mu::mustache> m)
            : cache_(c), key_(std::move(key)), entry_(std::move(e)), m_(std::move(m)) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() {
            if (clean_ && m_ && m_->is_valid()) cache_.give_back(key_, entry_, std::move(m_));
        }
        const Tags& tags() const { return entry_->tags; }
        mu::mustache& get() { return *m_; }
        void clean() { clean_ = true; }

    private:
        PartCache& cache_;
        std::string key_;
        std::shared_ptr<Entry> entry_;
        std::unique_ptr<mu::mustache> m_;
        bool clean_ = false;
    };

    Lease take(std::string_view part, const std::string& text, Escape esc) {
        std::string key = std::string(part) + '\0' + text;
        std::shared_ptr<Entry> e;
        std::unique_ptr<mu::mustache> m;
        {
            std::lock_guard lock(mu_);
            auto it = map_.find(key);
            if (it != map_.end()) {
                e = it->second;
                e->used = ++tick_;
                if (!e->idle.empty()) {
                    m = std::move(e->idle.back());
                    e->idle.pop_back();
                }
            }
        }
        if (!e) {
            auto fresh = std::make_shared<Entry>();
            fresh->tags = scan(part, text);  // outside the lock: parsing is slow
            std::lock_guard lock(mu_);
            auto [it, inserted] = map_.emplace(key, fresh);
            e = it->second;
            e->used = ++tick_;
            if (inserted) evict();
        }
        if (!m && e->tags.error.empty()) {
            m = std::make_unique<mu::mustache>(text);
            if (esc == Escape::none) m->set_custom_escape([](const std::string& s) { return s; });
        }
        return Lease(*this, std::move(key), std::move(e), std::move(m));
    }

private:
    static constexpr size_t kMaxEntries = 64;  // parts of recently used templates
    static constexpr size_t kMaxIdle = 8;      // parsed copies kept per part

    void give_back(const std::string& key, const std::shared_ptr<Entry>& e, std::unique_ptr<mu::mustache> m) {
        std::lock_guard lock(mu_);
        auto it = map_.find(key);
        if (it != map_.end() && it->second == e && e->idle.size() < kMaxIdle) e->idle.push_back(std::move(m));
    }

    void evict() {  // mu_ held
        while (map_.size() > kMaxEntries) {
            auto oldest = map_.begin();
            for (auto it = map_.begin(); it != map_.end(); ++it)
                if (it->second->used < oldest->second->used) oldest = it;
            map_.erase(oldest);
        }
    }

    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<Entry>> map_;
    uint64_t tick_ = 0;
};

PartCache& part_cache() {
    static PartCache* cache = new PartCache;  // never destroyed: workers may outlive exit()
    return *cache;
}

Result<std::string> render_part(std::string_view part, const std::string& text, const mu::data& data, bool strict,
                                Escape esc, bool header, size_t& lookups, size_t& budget, const Limits& limits) {
    auto lease = part_cache().take(part, text, esc);
    if (!lease.tags().error.empty()) return internal_error(lease.tags().error);
    mu::mustache& m = lease.get();
    if (!m.is_valid()) return internal_error(std::string(part) + ": " + m.error_message());
    CheckingContext ctx{&data, lease.tags(), strict, header, lookups, limits.max_lookups};
    CappedOutput out{{}, budget, limits.max_output};
    m.render(ctx, out);  // may throw LimitExceeded: the lease then drops the object
    if (!m.is_valid()) return internal_error(std::string(part) + ": " + m.error_message());
    lease.clean();
    if (!ctx.missing().empty()) {
        std::string names;
        for (auto& n : ctx.missing()) names += (names.empty() ? "'" : ", '") + n + "'";
        return internal_error(std::string(ctx.missing().size() == 1 ? "missing variable " : "missing variables ") +
                              names + " in " + std::string(part));
    }
    if (header && !ctx.bad_header().empty())
        return internal_error("value of '" + ctx.bad_header() + "' in " + std::string(part) +
                              " contains CR, LF or NUL");
    return std::move(out.s);
}

// CRLF and lone CR become LF (GMime writes CRLF on output).
std::string to_lf(std::string s) {
    if (s.find('\r') == std::string::npos) return s;
    std::string r;
    r.reserve(s.size());
    size_t pos = 0;
    for (size_t cr; (cr = s.find('\r', pos)) != std::string::npos; pos = cr + 1) {
        r.append(s, pos, cr - pos);
        r += '\n';
        if (cr + 1 < s.size() && s[cr + 1] == '\n') ++cr;
    }
    r.append(s, pos);
    return r;
}

void merge_into(json& base, const json& over) {
    for (auto& [k, v] : over.items()) {
        auto it = base.find(k);
        if (it != base.end() && it->is_object() && v.is_object())
            merge_into(*it, v);
        else
            base[k] = v;
    }
}

}  // namespace

Status check_part(std::string_view part, const std::string& text) {
    Tags tags = scan(part, text);
    if (!tags.error.empty()) return internal_error(tags.error);
    return ok_status();
}

Result<json> merge_data(const Template& t, json data) {
    if (!data.is_object()) return internal_error("template data is not a JSON object");
    if (t.default_data.empty()) return data;
    json base = json::parse(t.default_data, nullptr, false);
    if (!base.is_object()) return internal_error("default data of the template is not a JSON object");
    merge_into(base, data);
    return base;
}

Result<Rendered> render(const Template& t, const json& data, const Limits& limits) {
    if (!data.is_object()) return internal_error("template data is not a JSON object");
    try {
        mu::data d = to_data(data, 0, limits.max_data_depth);
        size_t lookups = 0;
        size_t budget = limits.max_output;
        Rendered r;
        auto subject = render_part("subject", t.subject, d, t.strict, Escape::none, true, lookups, budget, limits);
        if (!subject) return subject.error();
        if (subject->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
            return internal_error("rendered subject contains CR, LF or NUL");
        r.subject = std::move(*subject);
        if (t.html) {
            auto h = render_part("html", *t.html, d, t.strict, Escape::html, false, lookups, budget, limits);
            if (!h) return h.error();
            r.html = to_lf(std::move(*h));
        }
        if (t.text) {
            auto x = render_part("text", *t.text, d, t.strict, Escape::none, false, lookups, budget, limits);
            if (!x) return x.error();
            r.text = to_lf(std::move(*x));
        }
        return r;
    } catch (const LimitExceeded& e) {
        return internal_error(e.what);
    }
}

}  // namespace ses::tmpl
