// settings.cpp -- see settings.hpp.
#include "mta/settings.hpp"

namespace ses::mta {

Settings settings_from(const config::Config& c) {
    Settings s;
    parse_kind(c.str("mta.kind"), s.kind);
    s.config_directory = c.str("mta.config_directory");
    s.command_prefix = c.list("mta.command_prefix");
    s.command_timeout = c.duration("mta.command_timeout");
    return s;
}

}  // namespace ses::mta
