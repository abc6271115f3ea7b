// release_test.cpp -- releasing held mail near the MTA's queue lifetime:
// the Postfix adapter's choice between postsuper -H and postsuper -r, through
// stand-in postsuper / postconf / postkick scripts.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "mta/adapter.hpp"
#include "mta/postfix.hpp"

using namespace ses;

namespace {

struct Tools {
    std::filesystem::path dir;
    Tools() {
        dir = std::filesystem::temp_directory_path() / ("ses-release-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    ~Tools() { std::filesystem::remove_all(dir); }
    std::string script(const std::string& name, const std::string& body) {
        auto p = dir / name;
        std::ofstream(p) << "#!/bin/sh\n" << body;
        std::filesystem::permissions(p, std::filesystem::perms::owner_all);
        return p.string();
    }
    std::string calls() {
        std::ifstream in(dir / "calls");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
};

}  // namespace

TEST_CASE("Postfix time values", "[mta][release]") {
    CHECK(mta::parse_postfix_time("5d") == 5 * 86400);
    CHECK(mta::parse_postfix_time("5") == 5 * 86400);  // days when no unit, as maximal_queue_lifetime
    CHECK(mta::parse_postfix_time("20s") == 20);
    CHECK(mta::parse_postfix_time("3m") == 180);
    CHECK(mta::parse_postfix_time("2h") == 7200);
    CHECK(mta::parse_postfix_time("1w") == 604800);
    CHECK(mta::parse_postfix_time("0") == 0);
    CHECK_FALSE(mta::parse_postfix_time(""));
    CHECK_FALSE(mta::parse_postfix_time("d"));
    CHECK_FALSE(mta::parse_postfix_time("5x"));
    CHECK_FALSE(mta::parse_postfix_time("5dd"));
    CHECK_FALSE(mta::parse_postfix_time("99999999999999999999"));
    CHECK(mta::PostfixAdapter::requeued_count("postsuper: ABC: requeued\npostsuper: Requeued: 1 message") == 1);
    CHECK(mta::PostfixAdapter::requeued_count("postsuper: Requeued: 0 messages") == 0);
    CHECK(mta::PostfixAdapter::requeued_count("postsuper: fatal: x") == -1);
}

TEST_CASE("Held mail past the queue lifetime minus the margin is requeued, younger mail released", "[mta][release]") {
    Tools t;
    std::string log = (t.dir / "calls").string();
    mta::Settings s;
    s.config_directory = "/etc/pf";
    s.postsuper = t.script("postsuper",
                           "echo \"postsuper $*\" >> " + log +
                               "\n"
                               "case \"$3\" in -H) echo 'postsuper: Released from hold: 1 message' >&2;;\n"
                               "-r) [ \"$4\" = GONE12 ] && n=0 || n=1; echo \"postsuper: Requeued: $n message\" >&2;; "
                               "esac\n");
    s.postqueue = t.script("postqueue", "echo \"postqueue $*\" >> " + log + "\n");
    s.postkick = t.script("postkick", "echo \"postkick $*\" >> " + log + "\n");
    s.postconf = t.script("postconf", "echo \"postconf $*\" >> " + log + "\necho 5d\n");
    s.requeue_margin = 86400;
    mta::PostfixAdapter pf(s);
    const int64_t now = 1'800'000'000;

    // Held three days: four days of lifetime left, released as it is.
    auto r = pf.release_held("YOUNG1", now - 3 * 86400, now);
    REQUIRE(r);
    CHECK(*r == mta::Released::yes);
    // Held four days and a second: less than the margin left, requeued.
    r = pf.release_held("OLDER1", now - 4 * 86400 - 1, now);
    REQUIRE(r);
    CHECK(*r == mta::Released::requeued);
    r = pf.release_held("GONE12", now - 6 * 86400, now);
    REQUIRE(r);
    CHECK(*r == mta::Released::not_held);
    CHECK(t.calls() ==
          "postconf -c /etc/pf -h maximal_queue_lifetime\n"
          "postsuper -c /etc/pf -H YOUNG1\n"
          "postqueue -c /etc/pf -i YOUNG1\n"
          "postsuper -c /etc/pf -r OLDER1 hold\n"
          "postkick -c /etc/pf public pickup W\n"
          "postsuper -c /etc/pf -r GONE12 hold\n");  // the lifetime is read once, not per message
    CHECK_FALSE(pf.requeue("ALL"));

    // The lifetime cannot be read: the plain release, as before.
    mta::Settings s2 = s;
    s2.postconf = (t.dir / "missing").string();
    mta::PostfixAdapter pf2(s2);
    r = pf2.release_held("OLDER2", now - 30 * 86400, now);
    REQUIRE(r);
    CHECK(*r == mta::Released::yes);
}
