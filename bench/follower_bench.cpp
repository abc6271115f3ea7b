// follower_bench.cpp -- throughput of the delivery-status follower (#10): a
// generated Postfix log file of N lines (default 1 000 000) read through the
// real DeliveryTracker (LogFollower, parse_log_line, the record lookup by
// queue id and the status change with its counters and event, in LMDB
// batches of 2 000 lines with the position), one thread.  The reference row
// in the same run: the same file read line by line and parsed, without the
// store.  Target (#10): >= 200 000 lines/s on one core.
//
//   build/bench/follower_bench [LINES]
//
// The mix per message: cleanup message-id, qmgr "queue active", one smtp
// status line (sent; one in ten deferred), qmgr removed;
// one line in four is a delivery line, and every message has a record.
// Prints figures; exits 1 when a status was not applied.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "mta/log_line.hpp"
#include "records/delivery.hpp"
#include "records/message_store.hpp"
#include "store/env.hpp"
#include "util/clock.hpp"

using namespace ses;

namespace {

// This thread's CPU time: the machine is shared, so wall time includes
// waiting for a core.
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string qid_of(size_t m) {
    char b[32];
    std::snprintf(b, sizeof b, "4Ym%011zu", m);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    size_t lines = argc > 1 ? std::stoul(argv[1]) : 1000000;
    size_t messages = lines / 4;
    auto dir = std::filesystem::temp_directory_path() / ("ses-bench-follower-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto log = dir / "maillog";

    store::Options o;
    o.path = (dir / "store").string();
    o.map_size = 256ull << 20;
    auto env = store::Env::open(o);
    if (!env) {
        std::fprintf(stderr, "%s\n", env.error().what.c_str());
        return 1;
    }
    auto ms = records::MessageStore::open(*env, {});
    if (!ms) return 1;

    // The records, as the milter would have written them.
    auto t0 = std::chrono::steady_clock::now();
    int64_t now = clock::now();
    for (size_t m = 0; m < messages;) {
        Status st = (*env)->update([&](store::Txn& txn) -> Status {
            for (size_t k = 0; k < 1000 && m < messages; ++k, ++m) {
                records::MessageRecord r;
                r.id = "bench" + std::to_string(m);
                r.queue_id = qid_of(m);
                r.identity = "example.com";
                r.sender = "news@example.com";
                r.from = "news@example.com";
                r.subject = "November news";
                r.size = 2311;
                r.request_time = now;
                r.recipients.push_back({"user" + std::to_string(m) + "@example.net", {}});
                if (auto s = (*ms)->add(txn, r); !s) return s;
            }
            return txn.status();
        });
        if (!st) {
            std::fprintf(stderr, "records: %s\n", st.error().what.c_str());
            return 1;
        }
    }
    double setup_s = seconds_since(t0);

    // The follower starts at the end of an existing file: position it first.
    std::ofstream(log) << "Nov 27 15:24:40 mx1 postfix/master[1]: daemon started -- version 3.7.11\n";
    records::DeliveryTracker tracker(*env, *ms, log.string());
    if (!tracker.poll_once()) return 1;
    {
        std::ofstream out(log, std::ios::app);
        std::string buf;
        char line[512];
        for (size_t m = 0; m < messages; ++m) {
            std::string q = qid_of(m);
            const char* qc = q.c_str();
            bool deferred = m % 10 == 0;
            std::snprintf(line, sizeof line,
                          "Nov 27 15:24:44 mx1 postfix/cleanup[4413]: %s: message-id=<20261127152444.%s@example.com>\n"
                          "Nov 27 15:24:44 mx1 postfix/qmgr[77]: %s: from=<news@example.com>, size=2311, nrcpt=1 "
                          "(queue active)\n",
                          qc, qc, qc);
            buf += line;
            if (deferred)
                std::snprintf(line, sizeof line,
                              "Nov 27 15:24:45 mx1 postfix/smtp[4412]: %s: to=<user%zu@example.net>, "
                              "relay=mx.example.net[192.0.2.25]:25, delay=1.2, delays=0.03/0.01/1.1/0, dsn=4.4.1, "
                              "status=deferred (connect to mx.example.net[192.0.2.25]:25: Connection timed out)\n",
                              qc, m);
            else
                std::snprintf(line, sizeof line,
                              "Nov 27 15:24:45 mx1 postfix/smtp[4412]: %s: to=<user%zu@example.net>, "
                              "relay=mx.example.net[192.0.2.25]:25, delay=0.12, delays=0.03/0.01/0.04/0.04, "
                              "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4Ym2Jk1Xyz)\n",
                              qc, m);
            buf += line;
            std::snprintf(line, sizeof line, "Nov 27 15:24:45 mx1 postfix/qmgr[77]: %s: removed\n", qc);
            buf += line;
            if (buf.size() > (1 << 20)) {
                out << buf;
                buf.clear();
            }
        }
        out << buf;
    }
    uintmax_t bytes = std::filesystem::file_size(log);

    // Reference: read and parse the same lines, no store.
    t0 = std::chrono::steady_clock::now();
    double c0 = cpu_now();
    size_t ref_lines = 0, ref_found = 0;
    {
        std::ifstream in(log);
        std::string l;
        while (std::getline(in, l)) {
            ++ref_lines;
            if (mta::parse_log_line(l)) ++ref_found;
        }
    }
    double ref_s = seconds_since(t0), ref_cpu = cpu_now() - c0;

    // The follower: everything through the tracker, 2 000 lines a batch.
    t0 = std::chrono::steady_clock::now();
    c0 = cpu_now();
    size_t read = 0;
    for (;;) {
        auto n = tracker.poll_once(2000);
        if (!n) {
            std::fprintf(stderr, "poll: %s\n", n.error().what.c_str());
            return 1;
        }
        if (*n == 0) break;
        read += *n;
    }
    double s = seconds_since(t0), cpu = cpu_now() - c0;

    // Every status applied, counted once.
    uint64_t delivered = 0, deferred = 0;
    (void)(*env)->view([&](store::Txn& txn) {
        int32_t day = (*ms)->day_of(now);
        for (auto& row : (*ms)->stats(txn, day - 1, day + 1)) {
            delivered += row.counters[records::delivered];
            deferred += row.counters[records::deferred];
        }
        return ok_status();
    });

    std::printf("lines %zu (%.1f MB), messages with records %zu, delivery lines %zu; records written in %.1f s\n", read,
                bytes / 1e6, messages, ref_found, setup_s);
    std::printf("%-36s %12s %12s %10s\n", "", "wall lines/s", "CPU lines/s", "CPU us/line");
    std::printf("%-36s %12.0f %12.0f %10.2f\n", "read + parse_log_line (reference)", ref_lines / ref_s,
                ref_lines / ref_cpu, 1e6 * ref_cpu / ref_lines);
    std::printf("%-36s %12.0f %12.0f %10.2f\n", "DeliveryTracker (parse + LMDB)", read / s, read / cpu,
                1e6 * cpu / read);
    std::printf("tracker / reference (CPU) %.1fx; target >= 200000 lines/s on one core (CPU): %s\n", cpu / ref_cpu,
                read / cpu >= 200000 ? "PASS" : "MISS");
    std::printf("delivered %llu, deferred %llu\n", static_cast<unsigned long long>(delivered),
                static_cast<unsigned long long>(deferred));
    ms->reset();
    env->reset();
    std::filesystem::remove_all(dir);
    bool ok = read == lines && deferred == (messages + 9) / 10 && delivered + deferred == messages;
    return ok ? 0 : 1;
}
