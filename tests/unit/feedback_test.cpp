// feedback_test.cpp -- DSNs, complaints and auto-replies from tests/data/feedback/.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "mail/address.hpp"
#include "mail/feedback.hpp"

using namespace ses::mail;

namespace {
std::string corpus(const std::string& name) {
    auto p = std::filesystem::path(__FILE__).parent_path() / ".." / "data" / "feedback" / name;
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}
}  // namespace

TEST_CASE("Standard DSNs: recipient, action, status, diagnostic, original ids") {
    struct Row {
        const char* file;
        const char* address;
        const char* action;
        const char* status;
        const char* diag_start;
        const char* ses_id;
        const char* msgid;
    };
    const Row rows[] = {
        {"postfix-failed.eml", "nobody@example.net", "failed", "5.1.1", "550 5.1.1 <nobody@example.net>: Recipient",
         "01jb5x8k2m9q3c4d5e6f7g8h9j", "20261127152444.abc@example.com"},
        {"gmail-failed.eml", "missing.person@gmail.com", "failed", "5.1.1", "550-5.1.1 The email account",
         "01jb5x8k2m9q3c4d5e6f7g8h9k", "20261127152444.def@example.com"},
        {"outlook-failed.eml", "gone@outlook.com", "failed", "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound",
         "01jb5x8k2m9q3c4d5e6f7g8h9m", "20261127152444.ghi@example.com"},
        {"delayed.eml", "slow@example.org", "delayed", "4.4.1", "connect to mx.example.org", "",
         "20261127152444.jkl@example.com"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.file);
        Feedback fb = parse_feedback(corpus(r.file), true);
        CHECK(fb.kind == Feedback::Kind::dsn);
        CHECK(fb.standard);
        REQUIRE(fb.recipients.size() == 1);
        CHECK(fb.recipients[0].address == r.address);
        CHECK(fb.recipients[0].action == r.action);
        CHECK(fb.recipients[0].status == r.status);
        CHECK(fb.recipients[0].diagnostic.rfind(r.diag_start, 0) == 0);
        CHECK(fb.ses_message_id == r.ses_id);
        CHECK(fb.original_message_id == r.msgid);
    }
    Feedback pf = parse_feedback(corpus("postfix-failed.eml"), true);
    CHECK(pf.reporting_mta == "mx.example.net");
    CHECK(pf.recipients[0].original == "nobody@example.net");
    // Folded Diagnostic-Code lines come back as one line.
    CHECK(pf.recipients[0].diagnostic.find('\n') == std::string::npos);
    CHECK(pf.recipients[0].diagnostic.find("rejected: User unknown") != std::string::npos);
}

TEST_CASE("ARF complaints: type, reporter, redacted recipient, original ids") {
    Feedback fb = parse_feedback(corpus("arf-abuse.eml"));
    CHECK(fb.kind == Feedback::Kind::complaint);
    CHECK(fb.feedback_type == "abuse");
    CHECK(fb.reporting_mta == "mail.example.net");
    REQUIRE(fb.recipients.size() == 1);
    CHECK(fb.recipients[0].address == "user@mail.example.net");
    CHECK(fb.ses_message_id == "01jb5x8k2m9q3c4d5e6f7g8h9n");

    fb = parse_feedback(corpus("arf-redacted-headers.eml"));
    CHECK(fb.kind == Feedback::Kind::complaint);
    CHECK(fb.reporting_mta == "FBL/2.0");
    CHECK(fb.ses_message_id == "01jb5x8k2m9q3c4d5e6f7g8h9p");
    CHECK(fb.original_message_id == "20261127152444.pqr@example.com");

    // RFC 9477: the original's CFBL-Feedback-ID.
    std::string raw = corpus("arf-abuse.eml");
    auto at = raw.find("X-SES-Message-ID: ");
    REQUIRE(at != std::string::npos);
    raw.insert(at, "CFBL-Feedback-ID: aaaadiq56ci7qy5nvtvn27w6zq\n");
    fb = parse_feedback(raw);
    CHECK(fb.kind == Feedback::Kind::complaint);
    CHECK(fb.cfbl_feedback_id == "aaaadiq56ci7qy5nvtvn27w6zq");
    CHECK(parse_feedback(corpus("arf-abuse.eml")).cfbl_feedback_id.empty());
}

TEST_CASE("A plain-text bounce from a mailer daemon names its recipient and code") {
    Feedback fb = parse_feedback(corpus("exim-plain.eml"), true);
    CHECK(fb.kind == Feedback::Kind::dsn);
    CHECK_FALSE(fb.standard);
    REQUIRE(fb.recipients.size() == 1);
    CHECK(fb.recipients[0].address == "olduser@old.example.org");
    CHECK(fb.recipients[0].action == "failed");
    CHECK(fb.recipients[0].status == "5.1.1");
}

TEST_CASE("Auto-replies and people's replies are never bounces") {
    CHECK(parse_feedback(corpus("out-of-office.eml")).kind == Feedback::Kind::auto_reply);
    // A person quoting an error: no mailer daemon, no bounce subject.
    Feedback fb = parse_feedback(corpus("human-reply.eml"));
    CHECK(fb.kind == Feedback::Kind::none);
    CHECK(fb.recipients.empty());
    // Even from the null sender, a non-bounce subject is not enough.
    CHECK(parse_feedback(corpus("human-reply.eml"), true).kind == Feedback::Kind::none);
}

TEST_CASE("Garbage is Kind::none, never a crash") {
    CHECK(parse_feedback("").kind == Feedback::Kind::none);
    CHECK(parse_feedback("\r\n\r\n").kind == Feedback::Kind::none);
    CHECK(parse_feedback("Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n"
                         "Content-Type: message/delivery-status\n\n\n--x--\n")
              .recipients.empty());
}

TEST_CASE("Non-standard bounces about several recipients: only the one the text names", "[feedback]") {
    SECTION("qmail: the address in its own paragraph, the reply without it") {
        Feedback fb = parse_feedback(corpus("qmail-multi.eml"), true);
        CHECK(fb.kind == Feedback::Kind::dsn);
        CHECK_FALSE(fb.standard);
        // The returned copy (whose To: names all three) is not in the text.
        CHECK(fb.text.find("alice@example.net") == std::string::npos);
        CHECK(fb.ses_message_id.empty());  // no MIME part holds the copy
        auto r = named_recipients(fb.text, {"alice@example.net", "bob@example.net", "Carol@Example.net"});
        REQUIRE(r.size() == 1);
        CHECK(r[0].address == "Carol@Example.net");  // spelled as the record has it
        CHECK(r[0].action == "failed");
        CHECK(r[0].status == "5.1.1");
        CHECK(r[0].diagnostic == "Remote host said: 550 sorry, no mailbox here by that name. (#5.1.1)");
    }
    SECTION("Exim: the indented address, the reply two lines later, Auto-Submitted: auto-replied") {
        Feedback fb = parse_feedback(corpus("exim-multi.eml"), true);
        CHECK(fb.kind == Feedback::Kind::dsn);
        auto r = named_recipients(fb.text, {"ann@old.example.org", "dave@old.example.org", "erin@old.example.org"});
        REQUIRE(r.size() == 1);
        CHECK(r[0].address == "dave@old.example.org");
        CHECK(r[0].status == "5.1.1");
        CHECK(r[0].diagnostic == "550 5.1.1 User unknown");
    }
    SECTION("a 4xx reply is delayed; an address named without a reply is not counted") {
        std::string text =
            "Delivery to the following recipients is delayed:\n\n"
            "  x@example.org\n    451 4.7.1 greylisted, try later\n\n"
            "Also mentioned: y@example.org (no reply here)\n\n"
            "z@example.org: 554 5.7.1 rejected\n";
        auto r = named_recipients(text, {"y@example.org", "x@example.org", "z@example.org", "xx@example.org"});
        REQUIRE(r.size() == 2);
        CHECK(r[0].address == "x@example.org");
        CHECK(r[0].action == "delayed");
        CHECK(r[0].status == "4.7.1");
        CHECK(r[1].address == "z@example.org");
        CHECK(r[1].action == "failed");
        // Whole addresses only: "x@example.org" is not named by "xx@example.org".
        CHECK(named_recipients("xx@example.org: 550 no\n", {"x@example.org"}).empty());
    }
}
