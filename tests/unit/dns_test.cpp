// dns_test.cpp -- outcome classification, RDATA decoding, names, the static
// zone and the resolver's failure paths.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include "dns/answer.hpp"
#include "dns/resolver.hpp"
#include "dns/static_lookup.hpp"

using namespace ses;
using dns::Rcode;

TEST_CASE("libunbound outcomes map to four classes", "[dns]") {
    struct Row {
        int ub_err, rcode;
        bool havedata, bogus;
        Rcode want;
    } rows[] = {
        {0, 0, true, false, Rcode::ok},
        {0, 0, false, false, Rcode::nodata},
        {0, 3, false, false, Rcode::nxdomain},
        {0, 2, false, false, Rcode::temperror},  // SERVFAIL (also: unreachable forwarder)
        {0, 5, false, false, Rcode::temperror},  // REFUSED
        {0, 1, false, false, Rcode::temperror},  // FORMERR
        {0, 0, true, true, Rcode::temperror},    // DNSSEC bogus is never data
        {0, 3, false, true, Rcode::temperror},
        {-2, 0, true, false, Rcode::temperror},  // the library failed
    };
    for (auto& r : rows) {
        INFO("ub_err=" << r.ub_err << " rcode=" << r.rcode << " havedata=" << r.havedata << " bogus=" << r.bogus);
        CHECK(dns::classify(r.ub_err, r.rcode, r.havedata, r.bogus) == r.want);
    }
    CHECK(dns::rcode_name(Rcode::temperror) == "temperror");
}

TEST_CASE("RDATA decodes to text", "[dns]") {
    using namespace std::string_literals;
    struct Row {
        uint16_t type;
        std::string rdata;
        std::optional<std::string> want;
    } rows[] = {
        {dns::rr::A, "\xc0\x00\x02\x01"s, "192.0.2.1"},
        {dns::rr::A, "\xc0\x00\x02"s, std::nullopt},
        {dns::rr::AAAA, "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01"s, "2001:db8::1"},
        {dns::rr::TXT, "\x06v=spf1\x05 -all"s, "v=spf1 -all"},  // strings concatenate
        {dns::rr::TXT, "\x00"s, ""},
        {dns::rr::TXT,
         "\x03"
         "a\0b"s,
         "a\0b"s},                                   // binary-safe
        {dns::rr::TXT, "\x09short"s, std::nullopt},  // length past the end
        {dns::rr::MX,
         "\x00\x0a\x04mail\x07"
         "example\x03"
         "com\x00"s,
         "10 mail.example.com"},
        {dns::rr::MX, "\x00\x00\x00"s, "0 "},  // null MX (RFC 7505)
        {dns::rr::PTR,
         "\x04mail\x07"
         "example\x03"
         "com\x00"s,
         "mail.example.com"},
        {dns::rr::PTR, "\x04ma"s, std::nullopt},
    };
    for (auto& r : rows) {
        INFO("type " << dns::type_name(r.type));
        CHECK(dns::decode_rdata(r.type, r.rdata) == r.want);
    }
}

TEST_CASE("names are checked before anyone asks", "[dns]") {
    CHECK(dns::valid_name("example.com"));
    CHECK(dns::valid_name("example.com."));
    CHECK(dns::valid_name(std::string(63, 'a') + ".com"));
    CHECK_FALSE(dns::valid_name(std::string(64, 'a') + ".com"));
    CHECK_FALSE(dns::valid_name("a..b"));
    CHECK_FALSE(dns::valid_name(".com"));
    CHECK_FALSE(dns::valid_name(""));
    CHECK_FALSE(dns::valid_name(std::string(254, 'a')));
    CHECK_FALSE(dns::valid_name(std::string("a\0b", 3)));
}

TEST_CASE("reverse names", "[dns]") {
    CHECK(dns::reverse_name("192.0.2.1") == "1.2.0.192.in-addr.arpa");
    CHECK(dns::reverse_name("2001:db8::1") ==
          "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    CHECK(dns::reverse_name("not an address").empty());
}

TEST_CASE("the static zone answers like a server", "[dns]") {
    dns::StaticLookup z;
    z.add("Example.COM", dns::rr::TXT, "v=spf1 -all").add("example.com", dns::rr::A, "192.0.2.1");
    z.fail("slow.example.com", dns::rr::TXT);
    CHECK(z.txt("example.com.").ok());
    CHECK(z.txt("example.com").values == std::vector<std::string>{"v=spf1 -all"});
    CHECK(z.mx("example.com").rcode == Rcode::nodata);
    CHECK(z.a("nothing.example.com").rcode == Rcode::nxdomain);
    CHECK(z.txt("slow.example.com").rcode == Rcode::temperror);
    CHECK(z.ptr("not an address").rcode == Rcode::nxdomain);
    CHECK(z.questions().size() == 5);  // ptr() of a non-address asks nothing
}

TEST_CASE("the resolver refuses a bad forwarder", "[dns]") {
    dns::Settings s;
    s.forwarders = {"not an address"};
    auto r = dns::Resolver::create(s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("forwarder") != std::string::npos);
}

TEST_CASE("the resolver reports a dead server as temperror within its timeout", "[dns]") {
    dns::Settings s;
    s.forwarders = {"127.0.0.1@9"};  // discard port: nothing answers DNS there
    s.timeout = 1;
    auto r = dns::Resolver::create(s);
    REQUIRE(r.ok());
    auto t0 = std::chrono::steady_clock::now();
    dns::Answer a = (*r)->txt("example.com");
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(a.rcode == Rcode::temperror);
    CHECK_FALSE(a.why.empty());
    CHECK(secs < 2.5);
    // An invalid name is never sent.
    CHECK((*r)->a("a..b").rcode == Rcode::nxdomain);
}

TEST_CASE("a resolver survives fork(): unused ones work in the child, used ones are left alone", "[dns]") {
    dns::Settings s;
    s.forwarders = {"127.0.0.1@9"};
    s.timeout = 1;
    // Made before fork, first asked in the child (the daemon's start-up).
    auto fresh = dns::Resolver::create(s);
    REQUIRE(fresh.ok());
    // Asked before fork, dropped in the child.
    auto used = dns::Resolver::create(s);
    REQUIRE(used.ok());
    (void)(*used)->a("example.com");
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dns::Answer a = (*fresh)->a("example.com");
        used = internal_error("dropped");  // destroys the parent's resolver in the child
        ::_exit(a.rcode == Rcode::temperror ? 0 : 1);
    }
    int status = 0;
    for (int i = 0; i < 50 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::usleep(100000);
    bool done = ::waitpid(pid, &status, WNOHANG) != 0 || WIFEXITED(status);
    if (!done) ::kill(pid, SIGKILL), ::waitpid(pid, &status, 0);
    REQUIRE(done);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
