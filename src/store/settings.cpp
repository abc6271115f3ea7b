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

}  // namespace ses::store
