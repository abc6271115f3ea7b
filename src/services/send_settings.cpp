// send_settings.cpp -- see send_settings.hpp.
#include "services/send_settings.hpp"

#include <cctype>
#include <fstream>

namespace ses::services {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

}  // namespace

const SendIdentity* SendSettings::identity_for(std::string_view domain) const {
    std::string d = lower(domain);
    const SendIdentity* best = nullptr;
    for (const auto& id : identities) {
        if (id.name == d) return &id;
        bool parent =
            subdomains && d.size() > id.name.size() && d.ends_with(id.name) && d[d.size() - id.name.size() - 1] == '.';
        if (parent && (!best || id.name.size() > best->name.size())) best = &id;
    }
    return best;
}

bool SendSettings::refused_attachment(std::string_view file_name) const {
    std::string f = lower(file_name);
    for (const auto& ext : refused_attachments)
        if (!ext.empty() && f.ends_with(ext)) return true;
    return false;
}

Result<SendSettings> send_settings_from(const config::Config& cfg) {
    namespace k = config::key::send;
    SendSettings s;
    if (Status st = parse_smtp_address(cfg.get(k::smtp), s.submit); !st)
        return Error{"send.smtp: " + st.error().what, {}};
    if (cfg.tracking_keys.empty())
        s.unsubscribe_unavailable = "unsubscribe links need [tracking] keys";
    else if (!config::unsubscribe_url_ok(cfg.get(config::key::http::public_url)))
        s.unsubscribe_unavailable = "unsubscribe links need an https [http] public_url";
    s.submit.user = cfg.get(k::smtp_user);
    s.submit.password = cfg.get(k::smtp_password);
    if (std::string file = cfg.get(k::smtp_password_file); !file.empty()) {
        std::ifstream in(file);
        std::string line;
        if (!in || !std::getline(in, line)) return Error{"send.smtp_password_file: cannot read " + file, {}};
        s.submit.password = line;
    }
    s.submit.starttls = cfg.get(k::starttls);
    s.submit.timeout = static_cast<long>(cfg.get(k::timeout));
    s.max_message_size = cfg.get(k::max_message_size);
    for (const auto& ext : cfg.get(k::refused_attachments)) {
        std::string e = lower(ext);
        if (!e.empty() && e[0] != '.') e.insert(0, ".");
        s.refused_attachments.push_back(e);
    }
    for (const auto& d : cfg.domains)
        s.identities.push_back({d.name, d.require_verified, d.unsubscribe, d.one_recipient_per_message});
    s.subdomains = cfg.dkim.subdomains;
    return s;
}

}  // namespace ses::services
