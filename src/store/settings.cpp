// settings.cpp -- see settings.hpp.
#include "store/settings.hpp"

namespace ses::store {

Options options_from(const config::Config& c) {
    Options o;
    o.path = c.get(config::key::store::path);
    parse_sync(c.get(config::key::store::sync), o.sync);
    o.sync_interval = c.get(config::key::store::sync_interval);
    o.map_size = c.get(config::key::store::map_size);
    return o;
}

SharedOptions shared_options_from(const config::Config& c) {
    SharedOptions o;
    o.backend = c.get(config::key::store::backend);
    o.redis_url = c.get(config::key::store::redis_url);
    o.redis_pool = static_cast<unsigned>(c.get(config::key::store::redis_pool));
    o.redis_timeout_ms = static_cast<int>(c.get(config::key::store::redis_timeout_ms));
    o.redis_prefix = c.get(config::key::store::redis_prefix);
    return o;
}

}  // namespace ses::store
