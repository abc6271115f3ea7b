// node_id.hpp -- this store's node id: a random name, made once per store
// and kept in its `meta` table, that tells one host of a fleet from the
// others in the shared state (the held-mail order names each held message
// NODE|QUEUEID).  Not the hostname: two hosts may share one, and a host
// renamed keeps its held mail.  Stable as long as the store lives.
//
// Errors: store failures come back as Error.  Thread-safe; two processes
// racing to make it agree (the first writer wins).
#pragma once

#include <string>

#include "store/env.hpp"
#include "util/result.hpp"

namespace ses::store {

// 16 lower-case hex digits, made (in its own write transaction) when absent.
Result<std::string> node_id(Env& env);

}  // namespace ses::store
