// shared_state.cpp -- see shared_state.hpp: choosing the backend.
#include "store/shared_state.hpp"

#include "store/lmdb_state.hpp"
#include "store/redis_state.hpp"

namespace ses::store {

Result<std::shared_ptr<SharedState>> open_shared_state(const SharedOptions& o, std::shared_ptr<Env> env) {
    if (o.backend == "redis") return make_redis_state(o);
    if (o.backend != "lmdb") return internal_error("store: unknown backend \"" + o.backend + "\"");
    if (!env) return internal_error("store: the lmdb backend needs the store");
    return make_lmdb_state(std::move(env));
}

}  // namespace ses::store
