// open_store.hpp -- the daemon's LMDB environment, for sesctl commands.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::ctl {

// The environment at [store] path, with the daemon's options.
Result<std::shared_ptr<store::Env>> open_store(const config::Config& cfg);

}  // namespace ses::ctl
