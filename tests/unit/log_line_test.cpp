// log_line_test.cpp -- MTA log lines as delivery outcomes (real formats).
#include <catch2/catch.hpp>

#include "mta/log_line.hpp"

using namespace ses::mta;

TEST_CASE("Postfix per-recipient lines: sent, deferred, bounced, SOFTBOUNCE") {
    auto l = parse_log_line(
        "Nov 27 15:24:44 mx1 postfix/smtp[4412]: 4Ym2Jk0Zq1z9vQ: to=<bob@example.net>, "
        "orig_to=<bob@alias.example>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.12, "
        "delays=0.03/0.01/0.04/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4Ym2Jk1Xyz)\n");
    REQUIRE(l);
    CHECK(l->stamp == "Nov 27 15:24:44");
    CHECK(l->host == "mx1");
    CHECK(l->program == "postfix/smtp");
    CHECK(l->queue_id == "4Ym2Jk0Zq1z9vQ");
    CHECK(l->to == "bob@example.net");
    CHECK(l->orig_to == "bob@alias.example");
    CHECK(l->relay == "127.0.0.1[127.0.0.1]:2525");
    CHECK(l->dsn == "2.0.0");
    CHECK(l->status == LogStatus::sent);
    CHECK(l->text == "250 2.0.0 Ok: queued as 4Ym2Jk1Xyz");

    // Conversation text with commas and nested parentheses is the rest of the line.
    l = parse_log_line(
        "Nov  3 01:02:03 mx1 postfix/smtp[9]: A1B2C3D4E5: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com"
        "[142.250.1.26]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host "
        "gmail-smtp-in.l.google.com[142.250.1.26] said: 550-5.1.1 The email account that you tried to reach "
        "does not exist (see https://support.google.com/mail/?p=NoSuchUser, or ask), try again (in reply to "
        "RCPT TO command))");
    REQUIRE(l);
    CHECK(l->stamp == "Nov  3 01:02:03");
    CHECK(l->status == LogStatus::bounced);
    CHECK(l->dsn == "5.1.1");
    CHECK(l->to == "x@gmail.com");
    CHECK(l->text.rfind("host gmail-smtp-in.l.google.com[142.250.1.26] said: 550-5.1.1", 0) == 0);
    CHECK(l->text.size() > 100);
    CHECK(l->text.ends_with("(in reply to RCPT TO command)"));

    l = parse_log_line(
        "Nov 27 15:24:44 mx1 postfix/smtp[4412]: 4Ym2Jk0Zq1z9vQ: to=<c@example.org>, relay=none, delay=30, "
        "delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25: Connection "
        "timed out)");
    REQUIRE(l);
    CHECK(l->status == LogStatus::deferred);
    CHECK(l->relay == "none");
    CHECK(l->text == "connect to mx.example.org[192.0.2.1]:25: Connection timed out");

    l = parse_log_line(
        "Nov 27 15:24:44 mx1 postfix/smtp[4412]: 4Ym2Jk0Zq1z9vQ: to=<c@example.org>, relay=mx[192.0.2.1]:25, "
        "delay=1, delays=0/0/0/1, dsn=5.7.1, status=SOFTBOUNCE (host mx[192.0.2.1] said: 550 5.7.1 no)");
    REQUIRE(l);
    CHECK(l->status == LogStatus::softbounce);
}

TEST_CASE("Postfix expiry is one line per message") {
    auto l = parse_log_line(
        "Nov 27 15:24:44 mx1 postfix/qmgr[77]: 4Ym2Jk0Zq1z9vQ: from=<s@example.com>, "
        "status=expired, returned to sender");
    REQUIRE(l);
    CHECK(l->status == LogStatus::expired);
    CHECK(l->to.empty());
    l = parse_log_line(
        "Nov 27 15:24:44 mx1 postfix/qmgr[77]: 4Ym2Jk0Zq1z9vQ: from=<>, status=force-expired, "
        "returned to sender");
    REQUIRE(l);
    CHECK(l->status == LogStatus::expired);
}

TEST_CASE("Quoted local parts may contain the field separator") {
    auto l = parse_log_line(R"(Nov 27 15:24:44 mx1 postfix/smtp[1]: ABCDEF123: to=<"a, b"@example.net>, )"
                            "relay=r[127.0.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 ok)");
    REQUIRE(l);
    CHECK(l->to == R"("a, b"@example.net)");
    CHECK(l->relay == "r[127.0.0.1]:25");
}

TEST_CASE("Lines that are not delivery outcomes are ignored") {
    for (const char* line : {
             "Nov 27 15:24:44 mx1 postfix/smtpd[1]: connect from localhost[127.0.0.1]",
             "Nov 27 15:24:44 mx1 postfix/cleanup[2]: 4Ym2Jk0Zq1z9vQ: message-id=<x@y>",
             "Nov 27 15:24:44 mx1 postfix/qmgr[3]: 4Ym2Jk0Zq1z9vQ: from=<s@example.com>, size=2000, nrcpt=1 "
             "(queue active)",
             "Nov 27 15:24:44 mx1 postfix/qmgr[3]: 4Ym2Jk0Zq1z9vQ: removed",
             "Nov 27 15:24:44 mx1 postfix/smtp[4]: 4Ym2Jk0Zq1z9vQ: to=<a@b>, relay=none, delay=0, "
             "delays=0/0/0/0, dsn=2.1.5, status=deliverable (probe)",
             "Nov 27 15:24:44 mx1 postfix/postlogd[5]: error: cannot open /var/log/x",
             "garbage",
             "",
             "Nov 27 15:24:44 mx1 postfix/smtp[4]: QID!: to=<a@b>, status=sent (x)",
             "Nov 27 15:24:44 mx1 postfix/smtp[4]: ABC: relay=none, status=sent (no recipient)",
         })
        CHECK_FALSE(parse_log_line(line));
}

TEST_CASE("Sendmail lines from a system logger") {
    auto l = parse_log_line(
        "Nov 27 15:24:44 mx2 sm-mta[2211]: 4ARFOi9x002211: to=<bob@example.net>, ctladdr=<s@example.com> "
        "(1000/1000), delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120442, relay=mx.example.net. "
        "[192.0.2.25], dsn=2.0.0, stat=Sent (OK id=1abc-0007Xy-3Q)");
    REQUIRE(l);
    CHECK(l->program == "sm-mta");
    CHECK(l->queue_id == "4ARFOi9x002211");
    CHECK(l->to == "bob@example.net");
    CHECK(l->relay == "mx.example.net. [192.0.2.25]");
    CHECK(l->status == LogStatus::sent);
    CHECK(l->text == "OK id=1abc-0007Xy-3Q");

    l = parse_log_line(
        "Nov 27 15:24:44 mx2 sm-mta[2211]: 4ARFOi9x002211: to=<c@example.org>, delay=00:00:05, xdelay=00:00:05, "
        "mailer=esmtp, pri=120442, relay=example.org., dsn=4.0.0, stat=Deferred: Connection refused by "
        "example.org.");
    REQUIRE(l);
    CHECK(l->status == LogStatus::deferred);
    CHECK(l->text == "Connection refused by example.org.");

    l = parse_log_line(
        "2026-11-27T15:24:44.123456+00:00 mx2 sendmail[2211]: 4ARFOi9x002211: to=<nobody@example.org>, "
        "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30000, relay=mx.example.org. [192.0.2.3], "
        "dsn=5.1.1, stat=User unknown");
    REQUIRE(l);
    CHECK(l->stamp == "2026-11-27T15:24:44.123456+00:00");
    CHECK(l->status == LogStatus::bounced);
    CHECK(l->dsn == "5.1.1");
    CHECK(l->text == "User unknown");

    CHECK_FALSE(
        parse_log_line("Nov 27 15:24:44 mx2 sm-mta[2211]: 4ARFOi9x002211: from=<s@example.com>, "
                       "size=311, class=0, nrcpts=1, msgid=<x@y>, proto=ESMTP, daemon=MTA, "
                       "relay=localhost [127.0.0.1]"));
    CHECK_FALSE(
        parse_log_line("Nov 27 15:24:44 mx2 sm-mta[2211]: 4ARFOi9x002211: to=<a@b>, delay=00:00:00, "
                       "mailer=esmtp, pri=1, stat=queued"));
}

TEST_CASE("A message requeued with postsuper -r: pickup names the old queue id") {
    // As Postfix 3.7 logs it (measured): the fields are separated by spaces.
    auto l = parse_log_line(
        "Nov 27 18:21:10 mta postfix/pickup[31927]: 4jbhYy1hHnz1c04B: uid=102 from=<alice@example.com> "
        "orig_id=4jbhYW11vyz1c0JZ");
    REQUIRE(l);
    CHECK(l->status == LogStatus::requeued);
    CHECK(l->queue_id == "4jbhYy1hHnz1c04B");
    CHECK(l->orig_id == "4jbhYW11vyz1c0JZ");
    CHECK(status_name(l->status) == "requeued");
    // A local submission (no orig_id) and a forged id are not.
    CHECK_FALSE(parse_log_line("Nov 27 18:21:10 mta postfix/pickup[1]: 4jbhYy1hHnz1c04B: uid=0 from=<root>"));
    CHECK_FALSE(
        parse_log_line("Nov 27 18:21:10 mta postfix/pickup[1]: 4jbhYy1hHnz1c04B: uid=0 from=<root> "
                       "orig_id=AB/../x"));
    // A multi-instance name still counts.
    l = parse_log_line("Nov 27 18:21:10 mta postfix-out/pickup[9]: NEW123: uid=0 from=<a@b> orig_id=OLD123");
    REQUIRE(l);
    CHECK(l->orig_id == "OLD123");
}
