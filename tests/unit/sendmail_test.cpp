// sendmail_test.cpp -- the Sendmail adapter's settings and commands
// (src/mta/sendmail.*, src/mta/settings.*); the real Sendmail run is in
// tests/e2e/test_sendmail.py.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "mta/sendmail.hpp"
#include "mta/settings.hpp"

using namespace ses;

namespace {

mta::Settings settings_of(const std::string& toml) {
    auto cfg = config::load_string(toml, "t.toml");
    INFO((cfg ? "" : cfg.error().what));
    REQUIRE(cfg);
    return mta::settings_from(*cfg);
}

struct ScratchDir {
    std::filesystem::path path;
    ScratchDir() {
        path = std::filesystem::temp_directory_path() / ("sesmilter-sendmail-test-" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~ScratchDir() { std::filesystem::remove_all(path); }
};

// A stand-in sendmail: appends its arguments to DIR/calls; for -bp prints
// DIR/listing and exits `list_rc`, otherwise exits `rc`.
std::string fake_sendmail(const std::filesystem::path& dir, int rc, int list_rc = 0) {
    auto prog = dir / "sendmail";
    std::ofstream(prog) << "#!/bin/sh\necho \"$*\" >> '" << (dir / "calls").string() << "'\n"
                        << "case \"$2\" in -bp) cat '" << (dir / "listing").string() << "'; exit " << list_rc
                        << ";; esac\nexit " << rc << "\n";
    std::filesystem::permissions(prog, std::filesystem::perms::owner_all);
    return prog.string();
}

void write_file(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

// `sendmail -bp -qQ` as Sendmail 8.17.1.9 prints it (tests/e2e/test_sendmail.py).
const std::string kListing =
    "\t\t/var/spool/mqueue (1 request)\n"
    "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n"
    "6ARICP2S005550        3 Fri Nov 27 18:12 <sender@example.com>\n"
    "     QUARANTINE: sesmilter warm-up: example.com over daily limit (1 of 1 used\n"
    "\t\t\t\t\t <rcpt@remote.test>\n"
    "\t\tTotal requests: 1\n";
const std::string kEmpty = "/var/spool/mqueue is empty\n\t\tTotal requests: 0\n";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("[mta] kind = sendmail without config_directory reads /etc/mail/sendmail.cf", "[mta][sendmail]") {
    // The example (examples/sendmail) sets only kind; -C/etc/postfix/sendmail.cf
    // would make every release fail.
    auto s = settings_of("[mta]\nkind = \"sendmail\"\n");
    CHECK(s.kind == mta::Kind::sendmail);
    CHECK(s.config_directory == "/etc/mail");
    mta::SendmailAdapter sm(s);
    CHECK(sm.unquarantine_command("6ARICP2S005550") ==
          std::vector<std::string>{"sendmail", "-C/etc/mail/sendmail.cf", "-qQ", "-Q", "-qI6ARICP2S005550"});
    CHECK(sm.run_command("6ARICP2S005550") ==
          std::vector<std::string>{"sendmail", "-C/etc/mail/sendmail.cf", "-qI6ARICP2S005550"});
}

TEST_CASE("[mta] config_directory: Postfix's default, and an explicit one for either MTA", "[mta][sendmail]") {
    CHECK(settings_of("").config_directory == "/etc/postfix");
    CHECK(settings_of("[mta]\nkind = \"postfix\"\n").config_directory == "/etc/postfix");
    CHECK(settings_of("[mta]\nkind = \"sendmail\"\nconfig_directory = \"/srv/sm\"\n").config_directory == "/srv/sm");
    CHECK(settings_of("[mta]\nkind = \"postfix\"\nconfig_directory = \"/srv/pf\"\n").config_directory == "/srv/pf");
}

TEST_CASE("sendmail -bp output: is the queue id listed?", "[mta][sendmail]") {
    using mta::SendmailAdapter;
    CHECK(SendmailAdapter::listed(kListing, "6ARICP2S005550") == 1);
    CHECK(SendmailAdapter::listed(kListing, "6ARICP2S005551") == 0);
    CHECK(SendmailAdapter::listed(kListing, "6ARICP2S0055") == 0);  // a prefix of another id
    CHECK(SendmailAdapter::listed(kEmpty, "6ARICP2S005550") == 0);
    std::string busy = kListing;
    busy.replace(busy.find("6ARICP2S005550 "), 15, "6ARICP2S005550*");
    CHECK(SendmailAdapter::listed(busy, "6ARICP2S005550") == 1);
    CHECK(SendmailAdapter::listed("", "6ARICP2S005550") == -1);
    CHECK(SendmailAdapter::listed("sendmail: Permission denied\n", "6ARICP2S005550") == -1);
}

TEST_CASE("Sendmail adapter: list, unquarantine, run; not_held; a failing unquarantine keeps the mail held",
          "[mta][sendmail]") {
    ScratchDir d;
    mta::Settings s;
    s.kind = mta::Kind::sendmail;
    s.config_directory = "/srv/sm";
    s.command_timeout = 10;
    const std::string list = "-C/srv/sm/sendmail.cf -bp -qQ -qI6ARICP2S005550\n";
    const std::string unq = "-C/srv/sm/sendmail.cf -qQ -Q -qI6ARICP2S005550\n";
    const std::string run = "-C/srv/sm/sendmail.cf -qI6ARICP2S005550\n";

    SECTION("quarantined: released") {
        write_file(d.path / "listing", kListing);
        s.sendmail = fake_sendmail(d.path, 0);
        auto r = mta::SendmailAdapter(s).release("6ARICP2S005550");
        REQUIRE(r);
        CHECK(*r == mta::Released::yes);
        CHECK(read_file(d.path / "calls") == list + unq + run);
    }
    SECTION("no longer quarantined (deleted by hand): not_held, nothing else run") {
        write_file(d.path / "listing", kEmpty);
        s.sendmail = fake_sendmail(d.path, 0);
        auto r = mta::SendmailAdapter(s).release("6ARICP2S005550");
        REQUIRE(r);
        CHECK(*r == mta::Released::not_held);
        CHECK(read_file(d.path / "calls") == list);
    }
    SECTION("the listing cannot be read: released anyway") {
        write_file(d.path / "listing", "sudo: a password is required\n");
        s.sendmail = fake_sendmail(d.path, 0, 1);
        auto r = mta::SendmailAdapter(s).release("6ARICP2S005550");
        REQUIRE(r);
        CHECK(*r == mta::Released::yes);
        CHECK(read_file(d.path / "calls") == list + unq + run);
    }
    SECTION("the unquarantine fails: an error, no delivery attempt") {
        write_file(d.path / "listing", kListing);
        s.sendmail = fake_sendmail(d.path, 75);
        auto r = mta::SendmailAdapter(s).release("6ARICP2S005550");
        REQUIRE_FALSE(r);
        CHECK(r.error().what.find("exit 75") != std::string::npos);
        CHECK(read_file(d.path / "calls") == list + unq);
    }
    SECTION("-qI matches substrings: a short id could release other mail") {
        s.sendmail = fake_sendmail(d.path, 0);
        CHECK_FALSE(mta::SendmailAdapter(s).release("ABC12"));
        CHECK_FALSE(std::filesystem::exists(d.path / "calls"));
    }
}
