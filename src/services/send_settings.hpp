// send_settings.hpp -- what the sending API (send_api.hpp) reads from the
// configuration: `[send]` and, per `[[domain]]`, the identity settings it
// checks before submitting.
//
// The API checks identities with the settings the daemon started with; the
// milter checks every submitted message again with the current ones, so a
// reload that removes an identity refuses its mail at submission (550, the
// API answers 400) until the daemon restarts.
//
// Errors: an unreadable `smtp_password_file` or a bad `smtp` address fail
// start-up with a message naming the key.  Immutable once built.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "services/smtp_submit.hpp"
#include "util/result.hpp"

namespace ses::services {

struct SendIdentity {
    std::string name;  // the [[domain]] name, lower case
    bool require_verified = false;
    bool unsubscribe = false;
    bool one_recipient_per_message = false;
};

struct SendSettings {
    SubmitConf submit;
    uint64_t max_message_size = 10'000'000;
    std::vector<std::string> refused_attachments;  // ".exe", lower case
    std::vector<SendIdentity> identities;
    bool subdomains = true;  // [dkim] subdomains
    // Why the `Unsubscribe` field cannot be honoured ("" when it can): the
    // links need [tracking] keys and a public_url that is https (or loopback).
    std::string unsubscribe_unavailable;

    // The identity covering DOMAIN: exact, else the longest parent when
    // subdomains; nullptr when none.
    const SendIdentity* identity_for(std::string_view domain) const;
    // Whether FILE_NAME ends in a refused extension (case ignored).
    bool refused_attachment(std::string_view file_name) const;
};

Result<SendSettings> send_settings_from(const config::Config& cfg);

}  // namespace ses::services
