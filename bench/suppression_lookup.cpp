// suppression_lookup.cpp -- the suppression list's per-recipient lookup at
// scale: N entries (default 1 000 000, every tenth with an identity scope
// beside its global one), then SuppressionList::find for random listed and
// unlisted addresses, each in its own read transaction as the milter does
// (one per message; here one per lookup, the pessimistic case), and the
// lookup alone inside one read transaction.  Median and p99.
// Target (#11): <= 5 us median at 1 000 000 entries.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "records/suppression.hpp"

#include "time_each.hpp"

using namespace ses;

namespace {

using bench::Figures;
using bench::time_each;

std::string address(int i) { return "user" + std::to_string(i) + "@domain" + std::to_string(i % 5000) + ".test"; }

}  // namespace

int main(int argc, char** argv) {
    int entries = argc > 1 ? std::stoi(argv[1]) : 1000000;
    int lookups = argc > 2 ? std::stoi(argv[2]) : 100000;
    auto dir = std::filesystem::temp_directory_path() / ("ses-bench-suppression-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    store::Options o;
    o.path = dir.string();
    auto env = store::Env::open(o);
    if (!env) {
        std::fprintf(stderr, "%s\n", env.error().what.c_str());
        return 1;
    }
    auto list = records::SuppressionList::open(*env, {});
    if (!list) return 1;
    auto t0 = std::chrono::steady_clock::now();
    for (int base = 0; base < entries; base += 10000) {
        Status st = (*env)->update([&](store::Txn& txn) -> Status {
            for (int i = base; i < std::min(entries, base + 10000); ++i) {
                records::SuppressionEntry e;
                e.address = address(i);
                e.reason = records::SuppressionReason::hard_bounce;
                e.time = 1700000000;
                e.source = "aaaadiq6iztkavstyzmd3lktnq";
                if (auto s = (*list)->put(txn, e); !s) return s;
                if (i % 10 == 0) {
                    e.scope = "example.com";
                    if (auto s = (*list)->put(txn, e); !s) return s;
                }
            }
            return txn.status();
        });
        if (!st) {
            std::fprintf(stderr, "fill: %s\n", st.error().what.c_str());
            return 1;
        }
    }
    double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::mt19937 rng(42);
    std::uniform_int_distribution<int> pick(0, entries - 1);
    std::vector<std::string> listed, unlisted;
    for (int i = 0; i < lookups; ++i) {
        listed.push_back(address(pick(rng)));
        unlisted.push_back("nobody" + std::to_string(pick(rng)) + "@elsewhere.test");
    }
    size_t found = 0;
    auto in_txn = [&](const std::vector<std::string>& addrs) {
        return time_each(lookups, [&](int i) {
            auto txn = (*env)->begin_read();
            if (txn && (*list)->find(*txn, addrs[static_cast<size_t>(i)], "example.com", 1800000000)) ++found;
        });
    };
    Figures hit = in_txn(listed);
    Figures miss = in_txn(unlisted);
    size_t hits = found;
    Figures bare{};
    {
        auto txn = (*env)->begin_read();
        if (!txn) return 1;
        bare = time_each(lookups, [&](int i) {
            if ((*list)->find(*txn, listed[static_cast<size_t>(i)], "example.com", 1800000000)) ++found;
        });
    }
    std::printf("suppression list: %d addresses (%d with an identity entry too), filled in %.1f s, store %.0f MiB\n",
                entries, (entries + 9) / 10, fill_s, double(std::filesystem::file_size(dir / "data.mdb")) / (1 << 20));
    std::printf("find, listed, own read txn:    median %.2f us  p99 %.2f us  (%zu/%d found)\n", hit.median, hit.p99,
                hits, lookups);
    std::printf("find, not listed, own read txn: median %.2f us  p99 %.2f us\n", miss.median, miss.p99);
    std::printf("find, listed, inside one txn:  median %.2f us  p99 %.2f us\n", bare.median, bare.p99);
    std::printf("target <= 5 us median: %s\n", hit.median <= 5.0 && miss.median <= 5.0 ? "PASS" : "FAIL");
    list->reset();
    env->reset();
    std::filesystem::remove_all(dir);
    return 0;
}
