// smtp_submit.hpp -- submit a message to the local MTA over SMTP.
//
// Everything the sending API and the tasks produce leaves through the MTA,
// so that the milter applies identity checks, templates, suppression,
// tracking, warm-up and signing exactly as for any other mail.  libcurl
// speaks the SMTP (EHLO, STARTTLS when offered and asked for, AUTH when a
// user is set, dot-stuffing); the MTA's reply is passed back as it was, so
// the caller can tell a refusal (5xx) from a deferral (4xx) and a broken
// connection (no reply).
//
// A Submitter keeps its connection between messages (libcurl's connection
// cache), which is what makes a task's submission rate close to
// smtp-source's.
//
// Errors: a transport failure (refused connection, timeout, TLS) is an
// Error; an SMTP rejection is a Reply with its code.  Thread safety: one
// Submitter per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ses::services {

struct SubmitConf {
    std::string host = "127.0.0.1";
    int port = 25;
    std::string user;  // AUTH when not empty
    std::string password;
    bool starttls = false;  // require STARTTLS (needed for AUTH off loopback)
    long timeout = 60;      // seconds, per message
};

// Parses "HOST:PORT", "[IPV6]:PORT" or "HOST" (port 25) into conf.
Status parse_smtp_address(std::string_view s, SubmitConf& conf);

struct SmtpReply {
    int code = 0;      // 250, 451, 550 ...; 0 when the MTA never answered
    std::string text;  // the MTA's last reply line(s), e.g. "2.0.0 Ok: queued as 4Xyz"
    bool accepted() const { return code >= 200 && code < 300; }
    bool temporary() const { return code >= 400 && code < 500; }
};

class Submitter {
public:
    explicit Submitter(SubmitConf conf);
    ~Submitter();
    Submitter(const Submitter&) = delete;
    Submitter& operator=(const Submitter&) = delete;

    // One transaction: MAIL FROM:<from>, RCPT TO each of rcpts, DATA message.
    // `message` is RFC 5322 text; bare LF line ends become CRLF.  The reply
    // is the one that decided: the first refused command's, else DATA's.
    Result<SmtpReply> submit(std::string_view from, const std::vector<std::string>& rcpts, std::string_view message);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ses::services
