// open_store.cpp -- see open_store.hpp.
#include "ctl/open_store.hpp"

#include "store/settings.hpp"

namespace ses::ctl {

Result<std::shared_ptr<store::Env>> open_store(const config::Config& cfg) {
    return store::Env::open(store::options_from(cfg));
}

}  // namespace ses::ctl
