// open_store.cpp -- see open_store.hpp.
#include "ctl/open_store.hpp"

#include "warmup/settings.hpp"

namespace ses::ctl {

Result<std::shared_ptr<store::Env>> open_store(const config::Config& cfg) {
    return store::Env::open(warmup::from_config(cfg).store);
}

}  // namespace ses::ctl
