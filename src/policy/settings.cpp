// settings.cpp -- see settings.hpp.
#include "policy/settings.hpp"

namespace ses::policy {

Settings settings_from(const config::Config& c) {
    Settings s;
    s.script = c.get(config::key::policy::script);
    s.instruction_limit = static_cast<uint64_t>(c.get(config::key::policy::instruction_limit));
    s.memory_limit = c.get(config::key::policy::memory_limit);
    s.time_limit_ms = c.get(config::key::policy::time_limit_ms);
    return s;
}

}  // namespace ses::policy
