// domains_test.cpp -- the one resolver of "which configured domain covers
// this name", and the three users that must agree with it (DKIM key
// selection, the identity decision, warm-up through the pipeline).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "auth/identity.hpp"
#include "dkim/key_store.hpp"
#include "mail/domains.hpp"

using namespace ses;

TEST_CASE("covering domain: case, trailing dot, subdomains, longest match", "[domains]") {
    const std::vector<std::string> conf = {"example.com", "Mail.Example.COM", "other.test.", "example.org"};
    struct Row {
        const char* name;
        bool subdomains;
        int want;
    };
    const Row rows[] = {
        {"example.com", true, 0},
        {"EXAMPLE.com", true, 0},
        {"example.com.", true, 0},
        {"EXAMPLE.COM.", false, 0},
        {"news.example.com", true, 0},
        {"news.example.com", false, -1},
        {"mail.example.com", true, 1},    // configured in mixed case
        {"mail.example.com", false, 1},   // exact match needs no subdomain rule
        {"a.mail.example.com", true, 1},  // longest covering parent wins
        {"A.MAIL.EXAMPLE.COM.", true, 1},
        {"a.mail.example.com", false, -1},
        {"other.test", true, 2},  // configured with a trailing dot
        {"x.other.test.", true, 2},
        {"badexample.com", true, -1},  // a label boundary, not a suffix
        {"com", true, -1},
        {"example.net", true, -1},
        {"", true, -1},
        {".", true, -1},
    };
    std::vector<auth::IdentityConf> ids;
    for (auto& c : conf) {
        auth::IdentityConf id;
        id.domain = c;
        ids.push_back(id);
    }
    for (auto& r : rows) {
        INFO(r.name << " subdomains=" << r.subdomains);
        CHECK(mail::covering_domain(conf, r.name, r.subdomains) == r.want);
        // The DKIM key selection and the identity decision use the same answer.
        CHECK(dkim::match_domain(conf, r.name, r.subdomains) == r.want);
        const auth::IdentityConf* id = auth::find_identity(ids, r.name, r.subdomains);
        CHECK(id == (r.want < 0 ? nullptr : &ids[static_cast<size_t>(r.want)]));
    }
}

TEST_CASE("canonical domain", "[domains]") {
    CHECK(mail::canonical_domain("Example.COM.") == "example.com");
    CHECK(mail::canonical_domain("example.com") == "example.com");
    CHECK(mail::canonical_domain("") == "");
    CHECK(mail::canonical_domain(".") == "");
}
