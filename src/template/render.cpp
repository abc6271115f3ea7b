// render.cpp -- see render.hpp.
#include "template/render.hpp"

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include <set>
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
        if (c.tag.type == T::section_begin || c.tag.type == T::section_begin_inverted)
            tags.sections.insert(c.tag.name);
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
        for (auto& [k, v] : j.items()) d.set(k, to_data(v, depth + 1, max_depth));
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
        : mu::context<std::string>(root), tags_(tags), strict_(strict), header_(header), lookups_(lookups),
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

Result<std::string> render_part(std::string_view part, const std::string& text, const mu::data& data, bool strict,
                                Escape esc, bool header, size_t& lookups, size_t& budget, const Limits& limits) {
    Tags tags = scan(part, text);
    if (!tags.error.empty()) return internal_error(tags.error);
    mu::mustache m{text};
    if (!m.is_valid()) return internal_error(std::string(part) + ": " + m.error_message());
    if (esc == Escape::none) m.set_custom_escape([](const std::string& s) { return s; });
    CheckingContext ctx{&data, tags, strict, header, lookups, limits.max_lookups};
    CappedOutput out{{}, budget, limits.max_output};
    m.render(ctx, out);
    if (!m.is_valid()) return internal_error(std::string(part) + ": " + m.error_message());
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
    std::string r;
    r.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            r += '\n';
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            r += s[i];
        }
    }
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

Result<json> merge_data(const Template& t, const json& data) {
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
