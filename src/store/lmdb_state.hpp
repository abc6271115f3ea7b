// lmdb_state.hpp -- the shared-state interface (shared_state.hpp) over the
// process's LMDB environment: the state of one machine.  Each call is one
// transaction, so charge() is atomic across the threads and processes that
// share the store (LMDB has one writer at a time).
//
// The single-host daemon keeps its own warm-up tables and does not go
// through this backend on its hot path; it exists so that the interface has
// a reference implementation the Redis backend is tested against.
//
// Errors: store failures as internal errors.  Thread safety: as Env.
#pragma once

#include <memory>

#include "store/env.hpp"
#include "store/shared_state.hpp"

namespace ses::store {

std::shared_ptr<SharedState> make_lmdb_state(std::shared_ptr<Env> env);

}  // namespace ses::store
