// privileges_test.cpp -- util/privileges: the plan from a table, name
// lookups, and (as root) a real drop in a child process and the store
// hand-over.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "util/privileges.hpp"

using namespace ses;
namespace fs = std::filesystem;

TEST_CASE("privileges plan: what start-up does for each uid and user", "[privileges]") {
    privileges::Identity svc{"sesmilter", 120, 130};
    privileges::Identity root{"root", 0, 0};
    struct Row {
        uid_t euid;
        std::optional<privileges::Identity> target;
        privileges::Action action;
        bool warns;
        const char* error_has;
    } rows[] = {
        {0, std::nullopt, privileges::Action::keep, true, ""},       // root, no user: warn
        {1000, std::nullopt, privileges::Action::keep, false, ""},   // unprivileged, no user
        {0, svc, privileges::Action::drop, false, ""},               // the packaged case
        {120, svc, privileges::Action::keep, false, ""},             // already the user (systemd User=)
        {1000, svc, privileges::Action::refuse, false, "not root"},  // cannot become another user
        {0, root, privileges::Action::refuse, false, "is root"},     // user = "root" drops nothing
    };
    for (const auto& r : rows) {
        auto p = privileges::plan(r.euid, r.target);
        INFO("euid " << r.euid << " user " << (r.target ? r.target->user : "-"));
        CHECK(p.action == r.action);
        CHECK(p.warning.empty() == !r.warns);
        if (*r.error_has) CHECK(p.error.find(r.error_has) != std::string::npos);
        if (r.action == privileges::Action::refuse) CHECK(p.error.rfind("milter.user: ", 0) == 0);
    }
}

TEST_CASE("privileges resolve: users, groups and clear errors", "[privileges]") {
    auto n = privileges::resolve("nobody", "");
    REQUIRE(n);
    CHECK(n->uid == 65534);
    CHECK(n->gid == 65534);
    auto g = privileges::resolve("nobody", "root");
    REQUIRE(g);
    CHECK(g->gid == 0);
    auto missing = privileges::resolve("no-such-user-ses", "");
    REQUIRE(!missing);
    CHECK(missing.error().what == "milter.user: no such user: no-such-user-ses");
    auto badgroup = privileges::resolve("nobody", "no-such-group-ses");
    REQUIRE(!badgroup);
    CHECK(badgroup.error().what == "milter.group: no such group: no-such-group-ses");
}

TEST_CASE("privileges drop: for good, checked in a child", "[privileges]") {
    if (geteuid() != 0) {
        WARN("not root: the real drop is not exercised");
        return;
    }
    auto who = privileges::resolve("nobody", "");
    REQUIRE(who);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Exit codes name the failing check (Catch2 does not run in the child).
        if (!privileges::drop(*who)) _exit(10);
        if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534) _exit(11);
        if (setuid(0) == 0 || seteuid(0) == 0) _exit(12);
        gid_t groups[64];
        int n = getgroups(64, groups);
        for (int i = 0; i < n; ++i)
            if (groups[i] == 0) _exit(13);  // root's supplementary groups are gone
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("privileges hand_over: the directory and its files, not what links lead to", "[privileges]") {
    if (geteuid() != 0) {
        WARN("not root: chown is not exercised");
        return;
    }
    fs::path d = fs::temp_directory_path() / ("ses-priv-test-" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    std::ofstream(d / "data.mdb") << "x";
    std::ofstream(d / "lock.mdb") << "y";
    fs::path outside = d.string() + "-outside";
    std::ofstream(outside) << "z";
    fs::create_symlink(outside, d / "link");
    auto who = privileges::resolve("nobody", "");
    REQUIRE(who);
    REQUIRE(privileges::hand_over(d.string(), *who));
    struct stat st;
    for (auto name : {"", "data.mdb", "lock.mdb"}) {
        REQUIRE(stat((d / name).c_str(), &st) == 0);
        CHECK(st.st_uid == 65534);
        CHECK(st.st_gid == 65534);
    }
    REQUIRE(stat(outside.c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    auto gone = privileges::hand_over((d / "missing").string(), *who);
    REQUIRE(!gone);
    CHECK(gone.error().what.find("store.path: ") == 0);
    fs::remove_all(d);
    fs::remove(outside);
}
