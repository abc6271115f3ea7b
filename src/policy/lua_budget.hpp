// lua_budget.hpp -- the limits of one Lua run, shared by the count hook, the
// allocator, the protected-call wrappers and the bounded pattern functions.
//
// A run (a script's top level or one hook call) may execute `limit`
// instructions and must end before `deadline_ns` (steady clock).  The count
// hook charges `step` instructions each time it fires; the pattern matcher
// charges its steps too, since no hook fires inside a C function.  Once
// either limit is passed the budget is tripped and stays tripped for the
// rest of the run: the hook then fires on every instruction and raises
// again, and pcall/xpcall/coroutine.resume re-raise, so a script cannot
// catch its way out.  Only Lua code may call charge()/raise_if_tripped()
// (they raise Lua errors).
//
// Thread safety: a Budget belongs to one state, used by one thread at a
// time; the deadline is atomic so another thread may shorten it.
#pragma once

#include <atomic>
#include <cstdint>

struct lua_State;

namespace ses::policy {

struct Budget {
    uint64_t limit = 0;  // instructions per run
    uint64_t used = 0;
    int step = 1000;                      // count hook period
    std::atomic<int64_t> deadline_ns{0};  // steady clock; 0 = none
    bool tripped = false;
    const char* why = "";  // set when tripped
    int64_t time_limit_ms = 0;

    // Starts a run: nothing used, the deadline `time_limit_ms` from now.
    void start();
    // Adds `n` instructions; checks both limits.  Returns tripped.
    bool charge_and_check(uint64_t n);
};

// The budget of the state `L` belongs to (stored in the extra space, which
// coroutines inherit).
Budget* budget_of(lua_State* L);
void set_budget(lua_State* L, Budget* b);

// Charges `n` steps and raises a Lua error when the budget is spent.
void charge(lua_State* L, uint64_t n);
// Raises the budget's error again when it is tripped.
void raise_if_tripped(lua_State* L);

// Replaces string.find, match, gmatch and gsub (and the string metatable's
// __index sees them) by the bounded matcher (lua_patterns.cpp).
void open_bounded_patterns(lua_State* L);

}  // namespace ses::policy
