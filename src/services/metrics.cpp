// metrics.cpp -- see metrics.hpp.
#include "services/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "util/log.hpp"

namespace ses::metrics {
namespace {

std::string_view type_name(Type t) {
    switch (t) {
        case Type::counter:
            return "counter";
        case Type::gauge:
            return "gauge";
        case Type::histogram:
            return "histogram";
    }
    return "untyped";
}

std::string label_text(const Labels& l, const std::string& extra_name = {}, const std::string& extra_value = {}) {
    if (l.empty() && extra_name.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : l) {
        out += (first ? "" : ",") + k + "=\"" + escape_label(v) + "\"";
        first = false;
    }
    if (!extra_name.empty()) out += (first ? "" : ",") + extra_name + "=\"" + escape_label(extra_value) + "\"";
    return out + "}";
}

std::string help_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string escape_label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

std::string render_family(const Family& f) {
    std::string out = "# HELP " + f.name + " " + help_escape(f.help) + "\n# TYPE " + f.name + " " +
                      std::string(type_name(f.type)) + "\n";
    for (const auto& [labels, v] : f.samples) out += f.name + label_text(labels) + " " + number(v) + "\n";
    return out;
}

void Registry::describe(std::string name, Type type, std::string help, std::vector<double> buckets) {
    std::lock_guard lk(mu_);
    auto& f = fams_[std::move(name)];
    f.type = type;
    f.help = std::move(help);
    f.buckets = std::move(buckets);
}

Registry::Fam& Registry::fam(std::string_view name) {
    auto it = fams_.find(name);
    if (it == fams_.end()) {
        log::error("metrics: undescribed metric " + std::string(name));
        std::abort();
    }
    return it->second;
}

void Registry::inc(std::string_view name, const Labels& labels, double n) {
    std::lock_guard lk(mu_);
    fam(name).values[labels] += n;
}

void Registry::set(std::string_view name, const Labels& labels, double v) {
    std::lock_guard lk(mu_);
    fam(name).values[labels] = v;
}

void Registry::observe(std::string_view name, double value, const Labels& labels) {
    std::lock_guard lk(mu_);
    auto& f = fam(name);
    auto& h = f.hists[labels];
    if (h.counts.size() != f.buckets.size()) h.counts.assign(f.buckets.size(), 0);
    for (size_t i = 0; i < f.buckets.size(); ++i)
        if (value <= f.buckets[i]) {
            ++h.counts[i];
            break;
        }
    ++h.count;
    h.sum += value;
}

void Registry::add_collector(std::function<std::vector<Family>()> fn) {
    std::lock_guard lk(mu_);
    collectors_.push_back(std::move(fn));
}

double Registry::value(std::string_view name, const Labels& labels) const {
    std::lock_guard lk(mu_);
    auto it = fams_.find(name);
    if (it == fams_.end()) return 0;
    if (auto v = it->second.values.find(labels); v != it->second.values.end()) return v->second;
    if (auto h = it->second.hists.find(labels); h != it->second.hists.end()) return double(h->second.count);
    return 0;
}

void Registry::reset() {
    std::lock_guard lk(mu_);
    for (auto& [n, f] : fams_) {
        f.values.clear();
        f.hists.clear();
    }
}

std::string Registry::render() const {
    std::vector<std::function<std::vector<Family>()>> collectors;
    std::map<std::string, std::string> text;  // by name, so the output is ordered
    {
        std::lock_guard lk(mu_);
        collectors = collectors_;
        for (const auto& [name, f] : fams_) {
            if (f.type != Type::histogram) {
                Family out{name, f.help, f.type, {}};
                for (const auto& [l, v] : f.values) out.samples.emplace_back(l, v);
                text[name] = render_family(out);
                continue;
            }
            std::string t = "# HELP " + name + " " + help_escape(f.help) + "\n# TYPE " + name + " histogram\n";
            auto hists = f.hists;
            if (hists.empty()) hists[{}] = Hist{std::vector<uint64_t>(f.buckets.size(), 0), 0, 0};
            for (const auto& [l, h] : hists) {
                uint64_t cum = 0;
                for (size_t i = 0; i < f.buckets.size(); ++i) {
                    cum += i < h.counts.size() ? h.counts[i] : 0;
                    t +=
                        name + "_bucket" + label_text(l, "le", number(f.buckets[i])) + " " + std::to_string(cum) + "\n";
                }
                t += name + "_bucket" + label_text(l, "le", "+Inf") + " " + std::to_string(h.count) + "\n";
                t += name + "_sum" + label_text(l) + " " + number(h.sum) + "\n";
                t += name + "_count" + label_text(l) + " " + std::to_string(h.count) + "\n";
            }
            text[name] = t;
        }
    }
    // Collectors read the store; outside the lock so updates never wait on them.
    for (const auto& c : collectors)
        for (const auto& f : c()) text[f.name] = render_family(f);
    std::string out;
    for (const auto& [n, t] : text) out += t;
    return out;
}

Registry& global() {
    static Registry* r = [] {
        auto* reg = new Registry;
        reg->describe(std::string(kMessages), Type::counter,
                      "Messages at end of message, by verdict (accept, reject, tempfail, discard).");
        reg->describe(std::string(kSignatures), Type::counter, "DKIM signatures added, by algorithm.");
        reg->describe(std::string(kPoolMessages), Type::counter,
                      "Outbound messages by [[pool]], source address and decision (routed, overflow, held).");
        reg->describe(std::string(kHolds), Type::counter, "Messages put in the hold queue by the warm-up quota.");
        reg->describe(std::string(kReleases), Type::counter, "Held messages released by the release scheduler.");
        reg->describe(std::string(kEomSeconds), Type::histogram,
                      "Time from end of message to the milter's answer, in seconds.",
                      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
        reg->describe(std::string(kHttpRequests), Type::counter, "HTTP requests answered, by status code.");
        return reg;
    }();
    return *r;
}

}  // namespace ses::metrics
