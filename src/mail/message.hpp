// message.hpp -- the message as the milter sees it, and the edits made to it.
//
// A Message is the envelope, the header fields in order and the body (CRLF
// line ends) of one mail transaction.  The body is a mail::Body: in memory
// up to the spool threshold, then in an unlinked spool file (body.hpp);
// stages that only read it (signer, verifier, long-line check) use
// read_body() in chunks, and only stages that rewrite it load it whole.  End-of-message stages (identity,
// templates, warm-up, DKIM) read it and edit it only through the methods
// below, which also record each edit as an Edit; the milter edge replays the
// edits as smfi_* calls.  Signing comes last and therefore signs exactly what
// the MTA will queue.  Not thread-safe; one per session.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/body.hpp"
#include "util/result.hpp"

namespace ses::mail {

struct Envelope {
    std::string client_addr;  // "127.0.0.1" / "::1", empty if unknown
    std::string client_name;
    std::string helo;
    std::string mail_from;              // without <>, "" for the null sender
    std::vector<std::string> rcpts;     // without <>, as given at RCPT
    std::vector<std::string> rcpt_raw;  // exactly as received (for smfi_delrcpt)
    std::string queue_id;               // {i}
    std::string auth_user;              // {auth_authen}
    std::string daemon_name;            // {daemon_name}
};

struct Header {
    std::string name;
    std::string value;  // as received: may begin with a space, folded with "\r\n" or "\n"
};

struct Edit {
    enum class Kind { insert_header, change_header, delete_header, replace_body, quarantine, change_from, delete_rcpt };
    Kind kind;
    // header name; the new envelope sender for change_from; the recipient
    // exactly as received at RCPT for delete_rcpt
    std::string name;
    std::string value;  // header value / quarantine reason / change_from's ESMTP arguments ("ENVID=...")
    int index = 0;      // insert: position (0 = top); change/delete: 1-based occurrence of name
};

class Message {
public:
    Envelope env;

    const std::vector<Header>& headers() const { return headers_; }
    // The whole body in one string.  A spooled body is read from its file
    // (once, then cached): for stages that rewrite the body; readers use
    // read_body().  Throws std::runtime_error when the spool cannot be read
    // (the milter callbacks answer on_error).
    const std::string& body() const;
    Status read_body(const std::function<Status(std::string_view)>& sink) const { return body_.read(sink); }
    const Body& body_data() const { return body_; }
    const std::vector<Edit>& edits() const { return edits_; }
    size_t size() const;  // headers + body bytes as fed

    // Feeding (the milter's header/body callbacks).  Records no edit.
    void feed_header(std::string name, std::string value) {
        // Room for a typical header block at once, not five regrowths with
        // their moves (docs/PERFORMANCE.md #16).
        if (headers_.empty()) headers_.reserve(kTypicalHeaders);
        headers_.push_back({std::move(name), std::move(value)});
    }
    static constexpr size_t kTypicalHeaders = 24;
    void feed_body(std::string_view chunk) {
        whole_.reset();
        body_.append(chunk);
    }
    void reserve_body(size_t) {}  // the body reserves as it grows (memory is bounded)

    // Lookup (case-insensitive names).
    const Header* find(std::string_view name, int occurrence = 1) const;
    int count(std::string_view name) const;
    std::optional<std::string> value(std::string_view name) const;  // first occurrence, trimmed, unfolded

    // Edits.  `value` without the leading space: the edge adds what the MTA
    // needs.
    void insert_header(int index, std::string name, std::string value);
    void add_header(std::string name, std::string value);  // at the bottom
    void change_header(std::string_view name, int occurrence, std::string value);
    void delete_header(std::string_view name, int occurrence = 1);
    void delete_all(std::string_view name);
    void replace_body(std::string body);
    void quarantine(std::string reason);
    void change_from(std::string sender, std::string esmtp_args = {});
    // Removes env.rcpts[i] (and its raw form) from the message; the edge
    // deletes it from the MTA's copy.  Later stages see the rest only.
    void delete_rcpt(size_t i);

private:
    std::vector<Header> headers_;
    Body body_;
    mutable std::optional<std::string> whole_;  // body() of a spooled body
    std::vector<Edit> edits_;
};

// Unfold a header value and trim it ("\r\n\t" sequences become one space).
std::string unfold(std::string_view v);

}  // namespace ses::mail
