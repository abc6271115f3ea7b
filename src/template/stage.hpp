// stage.hpp -- the end-of-message template stage.
//
// A message carrying `X-SES-Template: NAME` (and usually
// `X-SES-Template-Data: {json}`) is rendered: Subject from the template
// (RFC 2047 when not ASCII), body rebuilt (mime.hpp; attachments kept),
// MIME-Version / Content-Type / Content-Transfer-Encoding set, the two
// X-SES headers deleted.  All edits go through the Message's edit methods
// and are made only once everything has succeeded: nothing half-rendered is
// ever sent.  The rendered size is checked against max_message_size.
//
// Errors: an unknown template, bad data, a missing variable, a value unfit
// for the Subject, a result over the size limit give `554 5.6.0 Template
// NAME: reason` and fill the RenderingFailure record for the caller to
// store; a store failure is an internal error (on_error).  The stage logs
// nothing itself: the edge writes the one log line per message.  A message without either header
// passes untouched.  Thread-safe (per-message state only).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mail/message.hpp"
#include "template/render.hpp"
#include "template/store.hpp"
#include "util/result.hpp"

namespace ses::tmpl {

struct Settings {
    bool enabled = true;                     // templates.enabled
    uint64_t max_message_size = 10'000'000;  // milter.max_message_size
    Limits limits;                           // templates.max_lookups, ...
    // Variables sesmilter sets (unsubscribe_url): they replace whatever the
    // template's default data or the client's data says.
    std::map<std::string, std::string> reserved;
};

struct RenderingFailure {
    int64_t time = 0;
    std::string template_name;  // as the message gave it ("" if none)
    std::string reason;
    std::string queue_id;
    std::string message_id;
    std::string mail_from;
    std::vector<std::string> rcpts;
};
nlohmann::json to_json(const RenderingFailure& f);

// `failure` (optional) is filled when the stage answers 554; `log`
// (optional) gets " template=NAME" appended on success, for the edge's one
// log line.
Status template_stage(mail::Message& m, const TemplateStore& store, const Settings& s,
                      RenderingFailure* failure = nullptr, std::string* log = nullptr);

// The rendering step of apply_template on its own: `data` merged over the
// default data, the reserved variables set, rendered within the limits the
// message size allows.  A reply-free Error whose `what` is the reason
// ("missing variable 'name' in html").  The preview of /v1/templates and
// `sesctl template preview` call this, so they show what the milter sends.
Result<Rendered> render_for_message(const Template& t, nlohmann::json data, const Settings& s);

// Render `t` with `data` into `m` as the stage does once it has found the
// template (it removes X-SES headers if there are any): the same edits,
// the same 554 errors.  The stage's second half, usable on its own.
Status apply_template(mail::Message& m, const Template& t, nlohmann::json data, const Settings& s);

// The message as header lines and body, CRLF: what `sesctl template
// render` prints.
std::string serialize(const mail::Message& m);

}  // namespace ses::tmpl
