// record_cost.cpp -- what the message record adds to end of message: one
// MessageStore::add (record, indexes, counters, events) in its own LMDB
// write transaction, median and p99 over N messages, with an empty write
// transaction on the same store as the reference in the same run (the part
// of the cost that is the commit itself).  Target (#10): <= 30 us median.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "records/message_store.hpp"
#include "records/return_path.hpp"
#include "store/schema.hpp"

#include "time_each.hpp"

using namespace ses;

namespace {

using bench::Figures;
using bench::time_each;

}  // namespace

int main(int argc, char** argv) {
    int n = argc > 1 ? std::stoi(argv[1]) : 20000;
    auto dir = std::filesystem::temp_directory_path() / ("ses-bench-records-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    store::Options o;
    o.path = dir.string();
    auto env = store::Env::open(o);
    if (!env) {
        std::fprintf(stderr, "%s\n", env.error().what.c_str());
        return 1;
    }
    auto ms = records::MessageStore::open(*env, {});
    if (!ms) return 1;
    auto meta = (*env)->table(store::table::meta);
    Figures empty = time_each(n, [&](int i) {
        (void)(*env)->update([&](store::Txn& txn) {
            txn.put(meta, "bench", std::to_string(i));
            return txn.status();
        });
    });
    int64_t t = 1796311484;
    Figures add = time_each(n, [&](int i) {
        records::MessageRecord m;
        m.id = records::new_message_id((t + i) * 1000);
        m.queue_id = "4Ym2Jk" + std::to_string(1000000 + i);
        m.identity = "example.com";
        m.sender = "news@example.com";
        m.from = "news@example.com";
        m.subject = "November news for you";
        m.size = 2000;
        m.request_time = t + i;
        m.recipients.push_back({"user" + std::to_string(i) + "@gmail.com", {}});
        if (!(*env)->update([&](store::Txn& txn) { return (*ms)->add(txn, m); })) std::abort();
    });
    std::printf("messages %d, store sync periodic (the default)\n", n);
    std::printf("empty write transaction   median %6.1f us  p99 %6.1f us  (reference)\n", empty.median, empty.p99);
    std::printf("MessageStore::add         median %6.1f us  p99 %6.1f us  (%.1fx the reference; target <= 30 us: %s)\n",
                add.median, add.p99, add.median / empty.median, add.median <= 30 ? "PASS" : "MISS");
    ms->reset();
    env->reset();
    std::filesystem::remove_all(dir);
    return 0;
}
