// settings.cpp -- see settings.hpp.
#include "store/settings.hpp"

namespace ses::store {

Options options_from(const config::Config& c) {
    Options o;
    o.path = c.str("store.path");
    parse_sync(c.str("store.sync"), o.sync);
    o.sync_interval = c.duration("store.sync_interval");
    o.map_size = c.size("store.map_size");
    return o;
}

}  // namespace ses::store
