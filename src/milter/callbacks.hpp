// callbacks.hpp -- the libmilter edge.
//
// Every callback is thin: fetch the session, call a pure function, map the
// result to an SMFIS_* code and a reply.  Each one catches every exception
// and answers per `on_error`.  All callbacks sit in one smfiDesc table
// (callbacks.cpp); register_filter() hands it to libmilter.
#pragma once

#include <string>

#include "util/result.hpp"

namespace ses::milter {

// smfi_register with our table.  Call once before smfi_main.
Status register_filter();

// Sessions currently open (for draining at shutdown).
int active_sessions();

// Sessions between MAIL FROM and the end of that message (or its abort):
// a stop waits for these so that every message it started gets an answer.
int transactions_in_progress();
// While draining, a new MAIL FROM is answered 421 4.3.2 (shutting down).
void set_draining(bool on);

}  // namespace ses::milter
