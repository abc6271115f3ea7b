// log_parse.cpp -- throughput of the MTA log-line parser on a generated log
// of 1 000 000 Postfix lines (the follower's inner loop), with the cost of a
// plain line split over the same bytes as the reference in the same run.
// Target (#10): >= 200 000 lines/s on one core.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "mta/log_line.hpp"

using namespace ses;

int main(int argc, char** argv) {
    size_t n = argc > 1 ? std::stoul(argv[1]) : 1000000;
    // A realistic mix: per message a connect, cleanup, qmgr, smtp status and
    // removed line; about one status line in five.
    std::string log;
    const char* kinds[] = {
        "postfix/smtpd[4411]: connect from localhost[127.0.0.1]",
        "postfix/cleanup[4413]: %s: message-id=<20261127152444.%s@example.com>",
        "postfix/qmgr[77]: %s: from=<news@example.com>, size=2311, nrcpt=1 (queue active)",
        "postfix/smtp[4412]: %s: to=<user%s@example.net>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.12, "
        "delays=0.03/0.01/0.04/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4Ym2Jk1Xyz)",
        "postfix/qmgr[77]: %s: removed",
    };
    char qid[32], line[512];
    for (size_t i = 0; i < n; ++i) {
        std::snprintf(qid, sizeof qid, "4Ym%011zu", i / 5);
        int len = std::snprintf(line, sizeof line, "Nov 27 15:24:44 mx1 ");
        len += std::snprintf(line + len, sizeof line - len, kinds[i % 5], qid, qid);
        log.append(line, static_cast<size_t>(len));
        log += '\n';
    }
    auto split = [&](auto&& f) {
        auto t0 = std::chrono::steady_clock::now();
        size_t pos = 0, hits = 0;
        while (pos < log.size()) {
            size_t e = log.find('\n', pos);
            hits += f(std::string_view(log).substr(pos, e - pos));
            pos = e + 1;
        }
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return std::pair{s, hits};
    };
    auto [ref_s, lines] = split([](std::string_view l) { return l.empty() ? 0 : 1; });
    auto [s, found] = split([](std::string_view l) { return mta::parse_log_line(l) ? 1 : 0; });
    std::printf("lines %zu (%.1f MB), delivery lines found %zu\n", lines, log.size() / 1e6, found);
    std::printf("split only       %10.0f lines/s\n", lines / ref_s);
    std::printf("parse_log_line   %10.0f lines/s  (%.2f us/line; target >= 200000 lines/s: %s)\n", lines / s,
                1e6 * s / lines, lines / s >= 200000 ? "PASS" : "MISS");
    return found == n / 5 ? 0 : 1;
}
