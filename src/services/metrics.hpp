// metrics.hpp -- the process's Prometheus metrics and their text format.
//
// Counters and one histogram are updated where things happen (the milter:
// verdicts, signatures, holds, end-of-message latency); values that live
// elsewhere (quota per identity, webhook outbox, policy stalls, follower
// lag) are read at scrape time by collectors registered at start-up.
// render() writes the Prometheus text exposition format 0.0.4, families in
// name order, each with its # HELP and # TYPE lines.
//
// Errors: none; a collector that fails leaves its family out and logs.
// Thread safety: every member is safe from any thread (one mutex; updates
// are a map lookup and an add, at most a few per message).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ses::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { counter, gauge, histogram };

// One family read at scrape time.
struct Family {
    std::string name, help;
    Type type = Type::gauge;
    std::vector<std::pair<Labels, double>> samples;
};

class Registry {
public:
    // Families must be described before use; an undescribed name aborts
    // (a typo would otherwise make a metric silently vanish).
    void describe(std::string name, Type type, std::string help, std::vector<double> buckets = {});
    void inc(std::string_view name, const Labels& labels = {}, double n = 1);
    void set(std::string_view name, const Labels& labels, double v);
    void observe(std::string_view name, double value, const Labels& labels = {});
    void add_collector(std::function<std::vector<Family>()> fn);
    double value(std::string_view name, const Labels& labels = {}) const;  // for tests
    std::string render() const;
    void reset();  // values only (tests)

private:
    struct Hist {
        std::vector<uint64_t> counts;  // per bucket, not cumulative
        uint64_t count = 0;
        double sum = 0;
    };
    struct Fam {
        Type type;
        std::string help;
        std::vector<double> buckets;
        std::map<Labels, double> values;
        std::map<Labels, Hist> hists;
    };
    Fam& fam(std::string_view name);
    mutable std::mutex mu_;
    std::map<std::string, Fam, std::less<>> fams_;
    std::vector<std::function<std::vector<Family>()>> collectors_;
};

// The process's registry, with sesmilter's own families described.
Registry& global();

// Metric names used by more than one file.
inline constexpr std::string_view kMessages = "sesmilter_messages_total";
inline constexpr std::string_view kSignatures = "sesmilter_signatures_total";
inline constexpr std::string_view kHolds = "sesmilter_warmup_holds_total";
inline constexpr std::string_view kPoolMessages = "sesmilter_pool_messages_total";
inline constexpr std::string_view kReleases = "sesmilter_warmup_releases_total";
inline constexpr std::string_view kEomSeconds = "sesmilter_end_of_message_duration_seconds";
inline constexpr std::string_view kHttpRequests = "sesmilter_http_requests_total";

// Prometheus label value escaping (\\, \", \n) and number text.
std::string escape_label(std::string_view v);
std::string number(double v);
std::string render_family(const Family& f);

}  // namespace ses::metrics
