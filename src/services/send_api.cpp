// send_api.cpp -- see send_api.hpp.
#include "services/send_api.hpp"

#include <algorithm>
#include <variant>

#include "auth/verification.hpp"
#include "crypto/encoding.hpp"
#include "mail/address.hpp"
#include "records/apikeys.hpp"
#include "records/return_path.hpp"
#include "records/submission_id.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ses::services {
namespace {

using nlohmann::json;

constexpr size_t kMaxDestination = 50;
constexpr size_t kMaxCopies = 20;  // Cc and Bcc each
constexpr size_t kMaxReplyTo = 10;

Invalid bad(std::string field, std::string error, int status = 400) {
    return Invalid{status, std::move(field), std::move(error)};
}

// A string field: nullopt when absent or null; Invalid when not a string.
std::variant<std::optional<std::string>, Invalid> string_field(const json& body, const char* name) {
    if (!body.contains(name) || body[name].is_null()) return std::optional<std::string>();
    if (!body[name].is_string()) return bad(name, "must be a string");
    return std::optional<std::string>(body[name].get<std::string>());
}

// An address list: an array of addr-specs (a single string is taken as a
// list of one).
std::variant<std::vector<std::string>, Invalid> address_list(const json& body, const char* name, size_t max) {
    std::vector<std::string> out;
    if (!body.contains(name) || body[name].is_null()) return out;
    json v = body[name].is_string() ? json::array({body[name]}) : body[name];
    if (!v.is_array()) return bad(name, "must be an array of addresses");
    if (v.size() > max) return bad(name, "at most " + std::to_string(max) + " addresses");
    for (size_t i = 0; i < v.size(); ++i) {
        std::string field = std::string(name) + "[" + std::to_string(i) + "]";
        if (!v[i].is_string()) return bad(field, "must be a string");
        std::string a = v[i].get<std::string>();
        if (!mail::valid_addr_spec(a)) return bad(field, "not an email address: " + a);
        if (std::find(out.begin(), out.end(), a) != out.end()) return bad(field, "listed twice: " + a);
        out.push_back(std::move(a));
    }
    return out;
}

// "Name <a@b>" or "a@b": the addr-spec, or "" when it is not one address.
std::string addr_of(const std::string& from) {
    auto boxes = mail::mailboxes(from);
    if (boxes.size() != 1 || !mail::valid_addr_spec(boxes[0])) return "";
    return boxes[0];
}

// A JSON object given as an object or as its text (the product's form).
std::variant<json, Invalid> object_field(const json& v, const std::string& field) {
    if (v.is_object()) return v;
    if (!v.is_string()) return bad(field, "must be a JSON object or a string holding one");
    json parsed = json::parse(v.get<std::string>(), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) return bad(field, "is not a JSON object");
    return parsed;
}

std::variant<std::string, Invalid> base64_field(const json& v, const std::string& field) {
    if (!v.is_string()) return bad(field, "must be a base64 string");
    auto d = crypto::base64_decode(v.get<std::string>());
    if (!d) return bad(field, "is not valid base64");
    return *d;
}

const std::vector<std::string> kKnownFields = {
    "FromEmailAddress", "Destination", "Cc",          "Bcc",         "ReplyToAddresses", "Subject",    "Template",
    "Simple",           "Attachments", "Unsubscribe", "TriggerType", "HeaderFrom",       "SmtpHeaders"};

template <class T>
bool failed(const std::variant<T, Invalid>& v, Invalid& out) {
    if (auto* i = std::get_if<Invalid>(&v)) {
        out = *i;
        return true;
    }
    return false;
}

}  // namespace

std::variant<SendRequest, Invalid> parse_send(const json& body, const SendSettings& settings) {
    if (!body.is_object()) return bad("", "the body must be a JSON object");
    for (const auto& [k, v] : body.items())
        if (std::find(kKnownFields.begin(), kKnownFields.end(), k) == kKnownFields.end())
            return bad(k, "unknown field");
    SendRequest r;
    Invalid inv;

    auto from = string_field(body, "FromEmailAddress");
    if (failed(from, inv)) return inv;
    if (!std::get<0>(from) || std::get<0>(from)->empty()) return bad("FromEmailAddress", "is required");
    r.from = *std::get<0>(from);
    r.from_addr = addr_of(r.from);
    if (r.from_addr.empty()) return bad("FromEmailAddress", "not one email address: " + r.from);
    auto hf = string_field(body, "HeaderFrom");
    if (failed(hf, inv)) return inv;
    r.header_from = std::get<0>(hf).value_or(r.from);
    r.header_from_addr = addr_of(r.header_from);
    if (r.header_from_addr.empty()) return bad("HeaderFrom", "not one email address: " + r.header_from);

    auto dest = address_list(body, "Destination", kMaxDestination);
    if (failed(dest, inv)) return inv;
    r.destination = std::get<0>(dest);
    if (r.destination.empty()) return bad("Destination", "at least one address is required");
    auto cc = address_list(body, "Cc", kMaxCopies);
    if (failed(cc, inv)) return inv;
    r.cc = std::get<0>(cc);
    auto bcc = address_list(body, "Bcc", kMaxCopies);
    if (failed(bcc, inv)) return inv;
    r.bcc = std::get<0>(bcc);
    auto rt = address_list(body, "ReplyToAddresses", kMaxReplyTo);
    if (failed(rt, inv)) return inv;
    r.reply_to = std::get<0>(rt);

    auto subject = string_field(body, "Subject");
    if (failed(subject, inv)) return inv;
    r.subject = std::get<0>(subject).value_or("");
    if (r.subject.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        return bad("Subject", "contains CR, LF or NUL");

    bool has_simple = body.contains("Simple") && !body["Simple"].is_null();
    r.has_template = body.contains("Template") && !body["Template"].is_null();
    if (has_simple == r.has_template) return bad("Template", "give exactly one of Template and Simple");
    if (r.has_template) {
        const json& t = body["Template"];
        if (!t.is_object()) return bad("Template", "must be an object");
        for (const auto& [k, v] : t.items())
            if (k != "TemplateID" && k != "TemplateName" && k != "TemplateData")
                return bad("Template." + k, "unknown field");
        if (t.contains("TemplateID") && !t["TemplateID"].is_null()) {
            const json& id = t["TemplateID"];
            if (id.is_number_unsigned() || (id.is_number_integer() && id.get<int64_t>() > 0))
                r.template_id = id.get<int64_t>();
            else if (id.is_string()) {
                std::string v = id.get<std::string>();
                bool digits = !v.empty() && v.size() < 18 &&
                              std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
                if (digits) r.template_id = std::stoll(v);
            }
            if (!r.template_id || *r.template_id <= 0) return bad("Template.TemplateID", "must be a positive integer");
        }
        if (t.contains("TemplateName") && !t["TemplateName"].is_null()) {
            if (!t["TemplateName"].is_string()) return bad("Template.TemplateName", "must be a string");
            r.template_name = t["TemplateName"].get<std::string>();
        }
        if (!r.template_id && r.template_name.empty()) return bad("Template", "give TemplateID or TemplateName");
        if (t.contains("TemplateData") && !t["TemplateData"].is_null()) {
            auto data = object_field(t["TemplateData"], "Template.TemplateData");
            if (failed(data, inv)) return inv;
            r.template_data = std::get<0>(data).dump();
        }
    } else {
        const json& s = body["Simple"];
        if (!s.is_object()) return bad("Simple", "must be an object");
        for (const auto& [k, v] : s.items())
            if (k != "Html" && k != "Text") return bad("Simple." + k, "unknown field");
        for (const char* part : {"Html", "Text"}) {
            if (!s.contains(part) || s[part].is_null()) continue;
            auto d = base64_field(s[part], std::string("Simple.") + part);
            if (failed(d, inv)) return inv;
            (std::string_view(part) == "Html" ? r.html : r.text) = std::get<0>(d);
        }
        if (!r.html && !r.text) return bad("Simple", "give Html, Text or both (base64)");
        if (r.subject.empty()) return bad("Subject", "is required without a Template");
    }

    if (body.contains("Attachments") && !body["Attachments"].is_null()) {
        const json& a = body["Attachments"];
        if (!a.is_array()) return bad("Attachments", "must be an array");
        for (size_t i = 0; i < a.size(); ++i) {
            std::string field = "Attachments[" + std::to_string(i) + "]";
            if (!a[i].is_object() || !a[i].contains("FileName") || !a[i]["FileName"].is_string() ||
                !a[i].contains("Content"))
                return bad(field, "must be {FileName, Content (base64)}");
            std::string name = a[i]["FileName"].get<std::string>();
            if (name.empty() || name.size() > 255 ||
                name.find_first_of(std::string_view("\r\n\0/\\\"", 6)) != name.npos)
                return bad(field + ".FileName", "not a usable file name");
            if (settings.refused_attachment(name))
                return bad(field + ".FileName", "attachment type refused ([send] refused_attachments): " + name);
            auto content = base64_field(a[i]["Content"], field + ".Content");
            if (failed(content, inv)) return inv;
            r.attachments.push_back({name, std::move(std::get<0>(content))});
        }
    }

    if (body.contains("SmtpHeaders") && !body["SmtpHeaders"].is_null()) {
        auto h = object_field(body["SmtpHeaders"], "SmtpHeaders");
        if (failed(h, inv)) return inv;
        for (const auto& [k, v] : std::get<0>(h).items()) {
            if (!v.is_string()) return bad("SmtpHeaders." + k, "the value must be a string");
            if (auto why = mail::refused_header(k, v.get<std::string>()); !why.empty())
                return bad("SmtpHeaders." + k, why);
            r.headers.emplace_back(k, v.get<std::string>());
        }
    }

    auto unsub = string_field(body, "Unsubscribe");
    if (failed(unsub, inv)) return inv;
    r.unsubscribe = std::get<0>(unsub).value_or("");

    if (body.contains("TriggerType") && !body["TriggerType"].is_null()) {
        const json& t = body["TriggerType"];
        if (!t.is_number_integer() || (t.get<int64_t>() != 0 && t.get<int64_t>() != 1))
            return bad("TriggerType", "must be 0 (batch) or 1 (triggered)");
        r.trigger_type = t.get<int>();
    }
    return r;
}

std::vector<std::vector<std::string>> message_recipients(const SendRequest& r) {
    std::vector<std::vector<std::string>> out;
    if (r.cc.empty() && r.bcc.empty()) {
        for (const auto& d : r.destination) out.push_back({d});
        return out;
    }
    std::vector<std::string> all = r.destination;
    for (const auto* list : {&r.cc, &r.bcc})
        for (const auto& a : *list)
            if (std::find(all.begin(), all.end(), a) == all.end()) all.push_back(a);
    out.push_back(std::move(all));
    return out;
}

namespace {

http::Response invalid_response(const Invalid& i) {
    json j{{"error", i.error}};
    if (!i.field.empty()) j["field"] = i.field;
    return http::json_response(i.status, j.dump() + "\n");
}

// The HTTP answer to an MTA's refusal or deferral, or to its silence.
http::Response mta_failure(const std::optional<SmtpReply>& reply, const std::string& transport_error,
                           const std::vector<std::string>& accepted) {
    json j;
    int status = 502;
    if (!reply) {
        j["error"] = "the MTA did not answer: " + transport_error;
    } else if (reply->temporary()) {
        status = 503;
        j["error"] = "the MTA deferred the message; try again later";
    } else {
        status = 422;
        j["error"] = "the MTA refused the message";
    }
    if (reply) j["SmtpReply"] = std::to_string(reply->code) + " " + reply->text;
    if (!accepted.empty()) j["MessageIds"] = accepted;
    auto r = http::json_response(status, j.dump() + "\n");
    if (status != 422) r.headers.emplace_back("Retry-After", "60");
    return r;
}

Submitter& submitter(const SubmitConf& conf) {
    // One per HTTP thread: its connection is kept between requests.
    thread_local std::unique_ptr<Submitter> sub;
    if (!sub) sub = std::make_unique<Submitter>(conf);
    return *sub;
}

http::Response send_checked(const Services& s, const http::Request& req) {
    if (!s.records || s.submission_key.empty() || !s.send)
        return http::error_response(404, "the sending API needs message records ([records] enabled = true)");
    const SendSettings& conf = *s.send;
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return invalid_response(bad("", "the body is not valid JSON"));
    auto parsed = parse_send(body, conf);
    if (auto* i = std::get_if<Invalid>(&parsed)) return invalid_response(*i);
    SendRequest& r = std::get<SendRequest>(parsed);

    // The identity: the milter checks it again, the API answers clearly.
    const SendIdentity* id = nullptr;
    for (auto [field, addr] : {std::pair<const char*, const std::string*>{"FromEmailAddress", &r.from_addr},
                               {"HeaderFrom", &r.header_from_addr}}) {
        const SendIdentity* found = conf.identity_for(mail::domain_of(*addr));
        if (!found)
            return invalid_response(bad(field, mail::domain_of(*addr) + " is not a configured sending identity"));
        if (found->require_verified) {
            auto report = auth::VerificationStore(s.store).load(found->name);
            if (!report || report->state != auth::VerifyState::verified)
                return invalid_response(bad(field, "identity " + found->name + " is not verified", 403));
        }
        if (!id || std::string_view(field) == "HeaderFrom") id = found;
    }
    auto key = records::ApiKeys(s.store).info(req.api_key_name);
    if (!key) return http::error_response(500, key.error().what);
    if (*key && !(*key)->identities.empty())
        for (const auto& addr : {r.from_addr, r.header_from_addr}) {
            const SendIdentity* used = conf.identity_for(mail::domain_of(addr));
            const auto& allowed = (*key)->identities;
            if (std::find(allowed.begin(), allowed.end(), used->name) == allowed.end())
                return invalid_response(
                    bad("FromEmailAddress", "API key " + req.api_key_name + " may not send as " + used->name, 403));
        }
    // `Unsubscribe` adds the links to this message (the authenticated
    // submission header tells the milter), whatever the identity's setting.
    if (!r.unsubscribe.empty() && !conf.unsubscribe_unavailable.empty())
        return invalid_response(bad("Unsubscribe", conf.unsubscribe_unavailable));
    // The milter adds unsubscribe headers to one-recipient messages only
    // (docs/tracking.md): a copy to Cc/Bcc would go without them.
    if (!r.unsubscribe.empty() && (!r.cc.empty() || !r.bcc.empty()))
        return invalid_response(bad("Unsubscribe", "unsubscribe links need one recipient per message: no Cc or Bcc"));
    if ((!r.cc.empty() || !r.bcc.empty()) && id->one_recipient_per_message)
        return invalid_response(bad(r.cc.empty() ? "Bcc" : "Cc", "identity " + id->name +
                                                                     " sends one recipient per message; send "
                                                                     "copies as separate requests"));
    if (r.has_template) {
        if (!s.templates) return http::error_response(500, "no template store");
        auto t = r.template_id ? s.templates->get_by_id(*r.template_id) : s.templates->get(r.template_name);
        if (!t) return http::error_response(500, t.error().what);
        if (!*t)
            return invalid_response(
                r.template_id ? bad("Template.TemplateID", "no template with id " + std::to_string(*r.template_id))
                              : bad("Template.TemplateName", "no template " + r.template_name));
        if (r.template_id && !r.template_name.empty() && (*t)->name != r.template_name)
            return invalid_response(bad("Template", "TemplateID " + std::to_string(*r.template_id) + " is " +
                                                        (*t)->name + ", not " + r.template_name));
        r.template_name = (*t)->name;
        if (r.subject.empty()) r.subject = (*t)->subject;  // replaced when the milter renders
    }

    // Build every message first: nothing is submitted when one is refused.
    struct Out {
        std::string id;
        std::vector<std::string> rcpts;
        std::string text;
    };
    std::vector<Out> outs;
    int64_t now = clock::now();
    for (auto& rcpts : message_recipients(r)) {
        mail::Composition c;
        c.from = r.header_from;
        bool per_recipient = r.cc.empty() && r.bcc.empty();
        c.to = per_recipient ? rcpts : r.destination;
        c.cc = r.cc;
        c.reply_to = r.reply_to;
        c.subject = r.subject;
        c.html = r.html;
        c.text = r.text;
        if (r.has_template) {
            c.template_name = r.template_name;
            c.template_data = r.template_data;
        }
        c.attachments = r.attachments;
        c.headers = r.headers;
        Out o{records::new_message_id(now * 1000), rcpts, {}};
        c.message_id = o.id + "@" + id->name;
        c.date = now;
        auto text = mail::compose(c);
        if (!text) {
            std::string field = text.error().what.starts_with("Html") || text.error().what.starts_with("Text")
                                    ? "Simple." + text.error().what.substr(0, 4)
                                    : "";
            return invalid_response(bad(field, text.error().what));
        }
        // Put first, outside compose() (which refuses X-SES-* from clients).
        o.text = std::string(records::kSubmissionHeader) + ": " +
                 records::make_submission(s.submission_key, o.id, rcpts, !r.unsubscribe.empty()) + "\r\n" + *text;
        if (o.text.size() > conf.max_message_size)
            return invalid_response(bad("",
                                        "the message is " + std::to_string(o.text.size()) +
                                            " bytes after encoding, over the limit of " +
                                            std::to_string(conf.max_message_size) + " ([send] max_message_size)",
                                        413));
        outs.push_back(std::move(o));
    }

    std::vector<std::string> accepted;
    for (const auto& o : outs) {
        auto reply = submitter(conf.submit).submit(r.from_addr, o.rcpts, o.text);
        if (!reply) {
            log::warn("send: key " + req.api_key_name + ": message " + o.id + ": " + reply.error().what);
            return mta_failure(std::nullopt, reply.error().what, accepted);
        }
        if (!reply->accepted()) {
            log::notice("send: key " + req.api_key_name + ": message " + o.id +
                        " not accepted: " + std::to_string(reply->code) + " " + reply->text);
            return mta_failure(*reply, "", accepted);
        }
        log::info("send: key " + req.api_key_name + ": message " + o.id + " submitted: " + reply->text);
        accepted.push_back(o.id);
    }
    return http::json_response(200, json{{"MessageId", accepted.front()}, {"MessageIds", accepted}}.dump() + "\n");
}

// One log line per refused request, naming the key and the cause (the
// MTA's refusals are logged where they happen, with the message id).
http::Response send(const Services& s, const http::Request& req) {
    http::Response r = send_checked(s, req);
    if (r.status >= 400 && r.status != 422 && r.status != 502 && r.status != 503) {
        std::string body = r.body;
        while (!body.empty() && body.back() == '\n') body.pop_back();
        log::notice("send: key " + req.api_key_name + ": " + std::to_string(r.status) + " " + body);
    }
    return r;
}

}  // namespace

void add_send_routes(http::Router& router, std::shared_ptr<Services> s) {
    router.add("POST", "/v1/send", http::Access::operator_route, [s](const http::Request& r) { return send(*s, r); });
}

}  // namespace ses::services
