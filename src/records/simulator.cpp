// simulator.cpp -- see simulator.hpp.
#include "records/simulator.hpp"

#include "util/strings.hpp"

namespace ses::records {

std::string_view scenario_name(Scenario s) {
    switch (s) {
        case Scenario::success:
            return "success";
        case Scenario::bounce:
            return "bounce";
        case Scenario::softbounce:
            return "softbounce";
        case Scenario::ooto:
            return "ooto";
        case Scenario::complaint:
            return "complaint";
        case Scenario::unsubscribe:
            return "unsubscribe";
        case Scenario::suppressed:
            return "suppressed";
        case Scenario::unknown:
            return "unknown";
    }
    return "?";
}

std::optional<Scenario> scenario_of(const SimulatorSettings& s, std::string_view address) {
    if (!s.enabled || s.domain.empty()) return std::nullopt;
    std::string a = str::lower(str::trim(address));
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    size_t at = a.rfind('@');
    if (at == std::string::npos) return std::nullopt;
    std::string_view domain = std::string_view(a).substr(at + 1);
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (domain != str::lower(s.domain)) return std::nullopt;
    std::string_view local = std::string_view(a).substr(0, at);
    if (size_t plus = local.find('+'); plus != std::string_view::npos) local = local.substr(0, plus);
    for (auto sc : {Scenario::success, Scenario::bounce, Scenario::softbounce, Scenario::ooto, Scenario::complaint,
                    Scenario::unsubscribe, Scenario::suppressed})
        if (local == scenario_name(sc)) return sc;
    return Scenario::unknown;
}

std::vector<Outcome> scenario_outcomes(Scenario s, std::string_view address, int64_t time) {
    auto make = [&](Outcome::Kind k, std::string dsn, std::string text) {
        Outcome o;
        o.kind = k;
        o.dsn = std::move(dsn);
        o.text = std::move(text);
        o.time = time;
        return o;
    };
    const std::string rcpt = "<" + std::string(address) + ">";
    auto delivered = [&] { return make(Outcome::Kind::sent, "2.0.0", "250 2.0.0 Ok (mailbox simulator)"); };
    switch (s) {
        case Scenario::success:
            return {delivered()};
        case Scenario::bounce:
            return {make(Outcome::Kind::bounced, "5.1.1",
                         "550 5.1.1 " + rcpt + ": Recipient address rejected: User unknown (mailbox simulator)")};
        case Scenario::unknown:
            return {
                make(Outcome::Kind::bounced, "5.1.1", "550 5.1.1 " + rcpt + ": no such mailbox simulator scenario")};
        case Scenario::softbounce:
            return {make(Outcome::Kind::deferred, "4.2.0",
                         "450 4.2.0 " + rcpt + ": Mailbox temporarily unavailable (mailbox simulator)"),
                    delivered()};
        case Scenario::ooto:
            return {delivered(), make(Outcome::Kind::auto_reply, {}, "out of office (mailbox simulator)")};
        case Scenario::complaint:
            return {delivered(), make(Outcome::Kind::complaint, {}, "abuse")};
        case Scenario::unsubscribe:
            return {delivered(), make(Outcome::Kind::unsubscribe, {}, "unsubscribe (mailbox simulator)")};
        case Scenario::suppressed:
            return {};
    }
    return {};
}

}  // namespace ses::records
