// signal_guard.hpp -- keeps libmilter's signal thread away from the signals
// sesmilter handles itself.
//
// smfi_main() starts a thread that sigwait()s for SIGHUP, SIGTERM and
// SIGINT and stops the milter at once when it gets one: no drain, and on
// SIGHUP too, so a `systemctl reload` could stop the service.  sesmilter
// leaves those signals unblocked in its own threads with a handler (see
// main), and the kernel prefers such a thread; but a thread that
// sigwait()s also "wants" the signal, and it gets one whenever the
// preferred thread already has a signal pending.  signal_guard.cpp
// therefore defines sigwait() for the whole process (it interposes the C
// library's, as libmilter.so calls it through the PLT): the three signals
// are taken out of the set, so libmilter's thread never takes them and
// sesmilter's handler always does.  Nothing else in sesmilter calls
// sigwait(); a caller that waits for other signals is unaffected.
#pragma once

#include <csignal>

namespace ses::milter {

// The signals only sesmilter's own handler may take.
bool is_guarded_signal(int sig);

// True; referencing it links the interposer into the program.
bool libmilter_signals_guarded();

}  // namespace ses::milter
