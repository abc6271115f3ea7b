// redis_state.hpp -- the shared-state interface (shared_state.hpp) over one
// Redis server, for a fleet of MTAs (docs/fleet.md).
//
// Every operation that must be exact across hosts is one server-side Lua
// script: loaded once per connection's server (SCRIPT LOAD), called by its
// SHA1 (EVALSHA) and loaded again when Redis answers NOSCRIPT (after a
// restart or SCRIPT FLUSH).  Quota counters are `<prefix>q:<day>:<key>` and
// expire `ttl` seconds after their last charge.
//
// Connections come from a pool of at most `redis_pool`; each call borrows
// one.  A failed call (connect, timeout, I/O, protocol) drops its
// connection and marks Redis down; while down, calls fail at once for a
// backoff that doubles from 100 ms to 5 s, then one call tries again.  One
// log line when Redis goes down (with the cause) and one when it is back,
// never one per message.
//
// Errors: internal errors naming Redis and the cause.  Thread safety: one
// RedisState is shared by all threads.
#pragma once

#include <memory>
#include <string>

#include "store/shared_state.hpp"

namespace ses::store {

struct RedisAddress {
    std::string host;  // TCP, when `unix_path` is empty
    int port = 6379;
    std::string unix_path;
    std::string password;
    int db = 0;
};

// redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N&password=P].
Result<RedisAddress> parse_redis_url(std::string_view url);

Result<std::shared_ptr<SharedState>> make_redis_state(const SharedOptions& o);

}  // namespace ses::store
