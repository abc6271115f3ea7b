// settings.cpp -- see settings.hpp.
#include "mta/settings.hpp"

namespace ses::mta {

Settings settings_from(const config::Config& c) {
    Settings s;
    parse_kind(c.get(config::key::mta::kind), s.kind);
    s.config_directory = c.get(config::key::mta::config_directory);
    // One default cannot suit both: Sendmail's sendmail.cf is never in /etc/postfix.
    if (s.config_directory.empty()) s.config_directory = s.kind == Kind::sendmail ? "/etc/mail" : "/etc/postfix";
    s.command_prefix = c.get(config::key::mta::command_prefix);
    s.command_timeout = c.get(config::key::mta::command_timeout);
    s.requeue_margin = c.get(config::key::mta::requeue_margin);
    return s;
}

}  // namespace ses::mta
