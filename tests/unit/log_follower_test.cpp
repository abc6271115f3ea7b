// log_follower_test.cpp -- following a log file across restarts and
// rotations (rename, re-create, gzip), on real files in a temporary directory.
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mta/log_follower.hpp"

using namespace ses::mta;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/ses-follow-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

void append(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::app | std::ios::binary) << s; }

std::string line(int i) {
    return "Nov 27 15:24:44 mx1 postfix/smtp[1]: Q" + std::to_string(i) + ": to=<a@b>, status=sent (ok)";
}

void gzip_file(const fs::path& from, const fs::path& to) {
    std::ifstream in(from, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});
    gzFile g = gzopen(to.c_str(), "wb");
    gzwrite(g, data.data(), static_cast<unsigned>(data.size()));
    gzclose(g);
    fs::remove(from);
}

// Polls until nothing more comes; returns the lines and keeps the position.
std::vector<std::string> poll_all(LogFollower& f, LogPosition* last = nullptr,
                                  std::vector<std::string>* lost = nullptr) {
    std::vector<std::string> out;
    for (;;) {
        auto n = f.poll(
            [&](std::string_view l, const LogPosition& after) {
                out.emplace_back(l);
                if (last) *last = after;
            },
            3,
            [&](const std::string& w) {
                if (lost) lost->push_back(w);
            });
        REQUIRE(n);
        if (*n == 0) break;
    }
    return out;
}

}  // namespace

TEST_CASE("A first start begins at the end of the existing log; then every new line once") {
    TempDir d;
    auto log = d.path / "maillog";
    append(log, line(1) + "\n" + line(2) + "\n");
    LogFollower f(log.string(), {});
    CHECK(poll_all(f).empty());
    append(log, line(3) + "\n" + line(4).substr(0, 10));  // a line still being written
    CHECK(poll_all(f) == std::vector<std::string>{line(3)});
    append(log, line(4).substr(10) + "\n");
    CHECK(poll_all(f) == std::vector<std::string>{line(4)});
}

TEST_CASE("A missing log is not an error; it is read from its start once it appears") {
    TempDir d;
    auto log = d.path / "maillog";
    LogFollower f(log.string(), {});
    CHECK(poll_all(f).empty());
    append(log, line(1) + "\n");
    CHECK(poll_all(f) == std::vector<std::string>{line(1)});
}

TEST_CASE("Rename rotation while running: the old file's last lines, then the new file") {
    TempDir d;
    auto log = d.path / "maillog";
    append(log, line(0) + "\n");
    LogFollower f(log.string(), {});
    poll_all(f);
    append(log, line(1) + "\n");
    fs::rename(log, d.path / "maillog.20261127-152444");
    append(d.path / "maillog.20261127-152444", line(2) + "\n");  // the writer had not reopened yet
    CHECK(poll_all(f) == std::vector<std::string>{line(1), line(2)});
    append(log, line(3) + "\n");  // re-created by the writer
    gzip_file(d.path / "maillog.20261127-152444", d.path / "maillog.20261127-152444.gz");
    CHECK(poll_all(f) == std::vector<std::string>{line(3)});
}

TEST_CASE("Restart from a stored position: no line twice, none missed, across a compressed rotation") {
    TempDir d;
    auto log = d.path / "maillog";
    append(log, line(0) + "\n");
    LogPosition saved;
    {
        LogFollower f(log.string(), {});
        poll_all(f, &saved);
        append(log, line(1) + "\n");
        CHECK(poll_all(f, &saved) == std::vector<std::string>{line(1)});
    }
    // While stopped: two more lines, then rotation and compression, then new lines.
    append(log, line(2) + "\n" + line(3) + "\n");
    fs::rename(log, d.path / "maillog.1");
    gzip_file(d.path / "maillog.1", d.path / "maillog.1.gz");
    append(log, line(4) + "\n");
    LogFollower f(log.string(), saved);
    std::vector<std::string> lost;
    CHECK(poll_all(f, &saved, &lost) == std::vector<std::string>{line(2), line(3), line(4)});
    CHECK(lost.empty());

    // And once more, restarting in the middle of the same file.
    append(log, line(5) + "\n");
    LogFollower g(log.string(), saved);
    CHECK(poll_all(g, &saved) == std::vector<std::string>{line(5)});
}

TEST_CASE("A stored file that is gone is reported, and the current file is read from its start") {
    TempDir d;
    auto log = d.path / "maillog";
    append(log, line(0) + "\n");
    LogPosition saved;
    {
        LogFollower f(log.string(), {});
        poll_all(f, &saved);
        append(log, line(1) + "\n");
        poll_all(f, &saved);
    }
    REQUIRE_FALSE(saved.empty());
    fs::remove(log);
    append(log, line(7) + "\n");
    LogFollower f(log.string(), saved);
    std::vector<std::string> lost;
    CHECK(poll_all(f, &saved, &lost) == std::vector<std::string>{line(7)});
    CHECK(lost.size() == 1);
}

TEST_CASE("copytruncate is noticed and the file read again from its start") {
    TempDir d;
    auto log = d.path / "maillog";
    append(log, line(0) + "\n");
    LogFollower f(log.string(), {});
    poll_all(f);
    append(log, line(1) + "\n");
    poll_all(f);
    fs::resize_file(log, 0);
    append(log, line(2) + "\n");
    std::vector<std::string> lost;
    CHECK(poll_all(f, nullptr, &lost) == std::vector<std::string>{line(2)});
    CHECK(lost.size() == 1);
}

TEST_CASE("Over-long lines are cut, and the position still counts every byte") {
    TempDir d;
    auto log = d.path / "maillog";
    append(log, "x\n");
    LogPosition saved;
    LogFollower f(log.string(), {});
    poll_all(f, &saved);
    std::string big(LogFollower::kMaxLine * 2 + 17, 'a');
    append(log, big + "\n" + line(1) + "\n");
    auto got = poll_all(f, &saved);
    REQUIRE(got.size() == 2);
    CHECK(got[0].size() == LogFollower::kMaxLine);
    CHECK(got[1] == line(1));
    CHECK(saved.offset == fs::file_size(log));
}
