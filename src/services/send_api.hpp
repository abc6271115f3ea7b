// send_api.hpp -- `POST /v1/send`: the product's SendEmail over HTTP
// (docs/api.md).
//
// A JSON request is checked field by field (parse_send(), pure), its
// identity and the API key's restriction are checked against the
// configuration and the store, the message(s) are built by
// mail::compose() and submitted over SMTP to the local MTA
// (smtp_submit.hpp), so that the milter applies identity checks, templates,
// suppression, tracking, warm-up and signing as for any other mail.
//
// One message per recipient (docs/status.md): Destination with N addresses
// and no Cc/Bcc gives N messages, each To: one address, each with its own
// message id.  With Cc or Bcc the request is one message to everyone, as
// the product sends it (an identity with one_recipient_per_message refuses
// that with 400).  Every message carries `X-SES-Submission` (records/
// submission_id.hpp), so the record the milter makes has the id the API
// returns.
//
// Errors: a bad field is 400 {"error", "field"}; an unconfigured identity
// 400, an unverified one (require_verified) or one the API key may not use
// 403; a message over [send] max_message_size 413; the MTA's refusal (5xx)
// 422, its deferral (4xx) 503 with Retry-After, no answer 502; each with
// the MTA's reply in "SmtpReply".  Messages are built and checked before
// any is submitted; when a later submission fails, the ids already
// accepted come back in "MessageIds" with the error.
// Thread safety: the handler runs on many HTTP threads at once; each thread
// keeps its own Submitter (and its SMTP connection).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mail/compose.hpp"
#include "services/http_router.hpp"
#include "services/send_settings.hpp"
#include "services/services.hpp"

namespace ses::services {

// A field that is wrong: the HTTP status, the field's name in the request
// ("Destination[2]", "Simple.Html"), the message.
struct Invalid {
    int status = 400;
    std::string field;
    std::string error;
};

// A request whose fields are well-formed (identity and template not yet
// looked up).
struct SendRequest {
    std::string from;         // FromEmailAddress as given ("Name <a@b>" or "a@b")
    std::string from_addr;    // its addr-spec: the envelope sender
    std::string header_from;  // HeaderFrom, else `from`
    std::string header_from_addr;
    std::vector<std::string> destination, cc, bcc, reply_to;
    std::string subject;
    std::optional<std::string> html, text;  // decoded
    std::optional<int64_t> template_id;
    std::string template_name;
    std::string template_data;  // a JSON object's text, "" = none
    bool has_template = false;
    std::vector<mail::Attachment> attachments;  // decoded
    std::vector<std::pair<std::string, std::string>> headers;
    std::string unsubscribe;  // language code, "" = not asked
    int trigger_type = 0;
};

// The fields of a parsed JSON body; `settings` gives the refused
// attachment types.  Pure.
std::variant<SendRequest, Invalid> parse_send(const nlohmann::json& body, const SendSettings& settings);

// The groups of envelope recipients, one message each (see above).
std::vector<std::vector<std::string>> message_recipients(const SendRequest& r);

// Registers POST /v1/send (an operator route).  Without [records] the
// route answers 404: the id it returns names a record.
void add_send_routes(http::Router& router, std::shared_ptr<Services> s);

}  // namespace ses::services
