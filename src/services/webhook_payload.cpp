// webhook_payload.cpp -- see webhook_payload.hpp.
#include "services/webhook_payload.hpp"

#include <nlohmann/json.hpp>

#include "crypto/digest.hpp"
#include "crypto/encoding.hpp"

namespace ses::services {
namespace {

using nlohmann::json;

std::string domain_of(std::string_view address) {
    auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string() : std::string(address.substr(at + 1));
}

json ses_event(const EventContext& c) {
    const records::Event& e = *c.event;
    json j{
        {"event_id", std::to_string(e.seq)},
        {"event", std::string(records::event_name(e.type))},
        {"time", e.time},
        {"message_id", e.message_id},
        {"recipient", e.recipient},
        {"bounce_type", e.bounce == records::BounceType::none ? json(nullptr)
                                                              : json(std::string(records::bounce_type_name(e.bounce)))},
        {"dsn", e.dsn},
        {"text", e.text},
        {"simulated", e.simulated}};
    if (c.record) {
        j["identity"] = c.record->identity;
        j["from"] = c.record->from;
        j["subject"] = c.record->subject;
        j["template"] = c.record->template_name;
        j["queue_id"] = c.record->queue_id;
        j["request_time"] = c.record->request_time;
    } else {
        j["identity"] = nullptr;
    }
    return j;
}

}  // namespace

std::string ses_body(const std::vector<EventContext>& events) {
    json a = json::array();
    for (const auto& c : events) a.push_back(ses_event(c));
    return a.dump();
}

std::optional<std::string_view> tencent_event(records::EventType t) {
    using T = records::EventType;
    switch (t) {
        case T::delivered:
            return "delivered";
        case T::deferred:
            return "deferred";
        case T::dropped:
            return "dropped";
        case T::bounce:
            return "bounce";
        case T::spamreport:
            return "spamreport";
        case T::open:
            return "open";
        case T::click:
            return "click";
        case T::unsubscribe:
            return "unsubscribe";
        default:
            return std::nullopt;
    }
}

std::string tencent_body(const EventContext& c) {
    const records::Event& e = *c.event;
    std::string reason = e.dsn.empty() ? e.text : e.text.empty() ? e.dsn : e.dsn + " " + e.text;
    std::string bounce;
    if (e.type == records::EventType::bounce)
        bounce = e.bounce == records::BounceType::hard ? "hard_bounce" : "soft_bounce";
    const records::MessageRecord* r = c.record;
    json j{{"event", std::string(tencent_event(e.type).value_or("?"))},
           {"email", e.recipient},
           {"link", e.type == records::EventType::click ? e.text : std::string()},
           {"bulkId", e.message_id},
           {"timestamp", e.time},
           {"reason", e.type == records::EventType::click ? std::string() : reason},
           {"bounceType", bounce},
           {"username", r ? r->identity : std::string()},
           {"from", r ? r->from : std::string()},
           {"fromDomain", r ? domain_of(r->from) : std::string()},
           {"templateId", template_id(r ? r->template_name : std::string())},
           {"useragent", ""},
           {"subject", r ? r->subject : std::string()},
           {"messageId", e.message_id},
           {"sentTimestamp", r ? r->request_time : int64_t{0}}};
    return j.dump();
}

std::string signature_header(const std::vector<std::string>& secrets, int64_t t, std::string_view body) {
    std::string ts = std::to_string(t);
    std::string signed_bytes = ts + "." + std::string(body);
    std::string h = "t=" + ts;
    for (const auto& s : secrets) h += ",v1=" + crypto::hex_encode(crypto::hmac_sha256(s, signed_bytes));
    return h;
}

int64_t template_id(std::string_view name) {
    if (name.empty()) return 0;
    std::string d = crypto::sha256(name);
    uint32_t v = (uint32_t(uint8_t(d[0])) << 24) | (uint32_t(uint8_t(d[1])) << 16) | (uint32_t(uint8_t(d[2])) << 8) |
                 uint32_t(uint8_t(d[3]));
    v &= 0x7fffffff;
    return v == 0 ? 1 : v;
}

std::string event_ids(const std::vector<EventContext>& events) {
    std::string s;
    for (const auto& c : events) s += (s.empty() ? "" : ",") + std::to_string(c.event->seq);
    return s;
}

}  // namespace ses::services
