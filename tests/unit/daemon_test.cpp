// daemon_test.cpp -- util/daemon: owners, mkdir -p, the pid file lock; the
// two-step reload of services (stage, then commit).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "services/services.hpp"
#include "warmup/hooks.hpp"
#include "util/daemon.hpp"

using namespace ses;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const char* name) {
    fs::path d = fs::temp_directory_path() / (std::string("ses-daemon-test-") + name + "-" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}
}  // namespace

TEST_CASE("dirname_of") {
    CHECK(daemon::dirname_of("/run/sesmilter/milter.sock") == "/run/sesmilter");
    CHECK(daemon::dirname_of("/milter.sock") == "/");
    CHECK(daemon::dirname_of("milter.sock") == ".");
}

TEST_CASE("owner_of parses user[:group]") {
    auto none = daemon::owner_of("");
    REQUIRE(none);
    CHECK_FALSE(none->given());
    auto root = daemon::owner_of("root");
    REQUIRE(root);
    CHECK(root->uid == 0);
    CHECK(root->gid == 0);
    auto group_only = daemon::owner_of(":root");
    REQUIRE(group_only);
    CHECK(group_only->uid == static_cast<uid_t>(-1));
    CHECK(group_only->gid == 0);
    auto bad = daemon::owner_of("no-such-user-here");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().what.find("no-such-user-here") != std::string::npos);
}

TEST_CASE("make_directories creates missing parents with the mode asked") {
    fs::path d = temp_dir("mkdir");
    fs::path deep = d / "a" / "b" / "c";
    REQUIRE(daemon::make_directories(deep.string(), 0750));
    struct stat st;
    REQUIRE(stat(deep.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    CHECK(daemon::make_directories(deep.string(), 0700));  // exists: left as is
    REQUIRE(stat(deep.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    std::ofstream(d / "file") << "x";
    auto st2 = daemon::make_directories((d / "file").string(), 0755);
    REQUIRE_FALSE(st2);
    CHECK(st2.error().what.find("not a directory") != std::string::npos);
    fs::remove_all(d);
}

TEST_CASE("a locked pid file refuses a second holder and names the pid") {
    fs::path d = temp_dir("pid");
    std::string path = (d / "run" / "sesmilter.pid").string();
    {
        auto first = daemon::PidFile::lock(path);
        REQUIRE(first);
        REQUIRE(first->write(4242));
        auto second = daemon::PidFile::lock(path);
        REQUIRE_FALSE(second);
        CHECK(second.error().what.find("already running (pid 4242") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(path));  // removed at a clean stop
    auto again = daemon::PidFile::lock(path);
    CHECK(again);
    fs::remove_all(d);
}

TEST_CASE("a reload stages the policy script and installs it only on commit") {
    fs::path d = temp_dir("reload");
    fs::path script = d / "policy.lua";
    std::ofstream(script) << "ses.on(\"daily_limit\", function(identity) return 50 end)\n";
    auto cfg = config::load_string("[policy]\nscript = \"" + script.string() + "\"\n", "test.toml");
    REQUIRE(cfg);
    auto svc = std::make_shared<services::Services>();
    svc->policy_settings.script = script.string();
    auto pol = policy::Policy::open(svc->policy_settings, warmup::hook_defs());
    REQUIRE(pol);
    svc->policy = *pol;
    uint64_t gen = svc->policy->generation();

    // A script that does not load is refused and the running one untouched.
    std::ofstream(script) << "ses.on(\"daily_limit\", function(identity) return 1 end\n";
    auto bad = svc->stage_reload(*cfg);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().what.find(script.string()) != std::string::npos);
    CHECK(svc->policy->generation() == gen);

    // A good one is only staged: the running script changes at commit.
    std::ofstream(script) << "ses.on(\"daily_limit\", function(identity) return 1 end)\n";
    auto good = svc->stage_reload(*cfg);
    REQUIRE(good);
    CHECK(svc->policy->generation() == gen);
    REQUIRE(svc->commit_reload(std::move(*good)));
    CHECK(svc->policy->generation() == gen + 1);
    fs::remove_all(d);
}
