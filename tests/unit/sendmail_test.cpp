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

// A stand-in sendmail that appends its arguments to a file and exits `rc`.
std::string fake_sendmail(const std::filesystem::path& dir, int rc) {
    auto prog = dir / "sendmail";
    std::ofstream(prog) << "#!/bin/sh\necho \"$*\" >> '" << (dir / "calls").string() << "'\nexit " << rc << "\n";
    std::filesystem::permissions(prog, std::filesystem::perms::owner_all);
    return prog.string();
}

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

TEST_CASE("Sendmail adapter: unquarantine then run, and a failing unquarantine keeps the mail held",
          "[mta][sendmail]") {
    ScratchDir d;
    mta::Settings s;
    s.kind = mta::Kind::sendmail;
    s.config_directory = "/srv/sm";
    s.command_timeout = 10;

    s.sendmail = fake_sendmail(d.path, 0);
    auto r = mta::SendmailAdapter(s).release("6ARICP2S005550");
    REQUIRE(r);
    CHECK(*r == mta::Released::yes);
    CHECK(read_file(d.path / "calls") ==
          "-C/srv/sm/sendmail.cf -qQ -Q -qI6ARICP2S005550\n-C/srv/sm/sendmail.cf -qI6ARICP2S005550\n");

    std::filesystem::remove(d.path / "calls");
    s.sendmail = fake_sendmail(d.path, 75);
    r = mta::SendmailAdapter(s).release("6ARICP2S005550");
    REQUIRE_FALSE(r);
    CHECK(r.error().what.find("exit 75") != std::string::npos);
    // No delivery attempt after a failed unquarantine.
    CHECK(read_file(d.path / "calls") == "-C/srv/sm/sendmail.cf -qQ -Q -qI6ARICP2S005550\n");

    // -qI matches substrings: a short id could release other mail.
    CHECK_FALSE(mta::SendmailAdapter(s).release("ABC12"));
}
