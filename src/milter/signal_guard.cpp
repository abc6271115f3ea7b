// signal_guard.cpp -- see signal_guard.hpp.
#include "milter/signal_guard.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <initializer_list>

namespace ses::milter {

bool is_guarded_signal(int sig) { return sig == SIGHUP || sig == SIGTERM || sig == SIGINT; }

bool libmilter_signals_guarded() { return true; }

}  // namespace ses::milter

// The C library's contract: wait for a signal of `set` that is blocked in
// the calling thread, store it in *sig, return 0 (or an error number).
// With nothing left to wait for, the caller (libmilter's signal thread)
// sleeps for good: it keeps the guarded signals blocked, so it is never
// chosen for them, and a handler for another signal only wakes pause().
extern "C" int sigwait(const sigset_t* set, int* sig) {
    sigset_t mine = *set;
    for (int s : {SIGHUP, SIGTERM, SIGINT}) sigdelset(&mine, s);
    if (sigisemptyset(&mine)) {
        for (;;) pause();
    }
    int got;
    do {
        got = sigwaitinfo(&mine, nullptr);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return errno;
    *sig = got;
    return 0;
}
