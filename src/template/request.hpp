// request.hpp -- what a message asks of the template stage.
//
// `X-SES-Template: NAME` names the template; `X-SES-Template-Data: {json}`
// carries the data, a JSON object, also accepted as `base64:...` (for
// 8-bit data) and RFC 2047-encoded (as mail libraries write non-ASCII
// header values).  parse_request() gives nullopt when the message carries
// neither header.  Errors (reply-free, `what` = the reason): two template
// headers, data without a template, a bad name, data that is not base64,
// not JSON or not an object, nesting deeper than `max_depth`.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mail/message.hpp"
#include "util/result.hpp"

namespace ses::tmpl {

inline constexpr std::string_view kTemplateHeader = "X-SES-Template";
inline constexpr std::string_view kDataHeader = "X-SES-Template-Data";

struct Request {
    std::string name;
    nlohmann::json data = nlohmann::json::object();
};

Result<nlohmann::json> parse_data(std::string_view value, int max_depth = 32);

// On error, `name_out` (if given) receives the template name when the
// message named one, for the reply.
Result<std::optional<Request>> parse_request(const mail::Message& m, std::string* name_out = nullptr,
                                             int max_depth = 32);

}  // namespace ses::tmpl
