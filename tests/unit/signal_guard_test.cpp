// signal_guard_test.cpp -- libmilter's signal thread never takes SIGHUP,
// SIGTERM or SIGINT (src/milter/signal_guard.hpp).
#include <catch2/catch.hpp>
#include <pthread.h>
#include <signal.h>

#include <thread>

#include "milter/signal_guard.hpp"

TEST_CASE("sigwait as libmilter's signal thread calls it never returns a guarded signal", "[milter][signals]") {
    REQUIRE(ses::milter::libmilter_signals_guarded());
    for (int guarded : {SIGHUP, SIGTERM, SIGINT}) {
        CAPTURE(guarded);
        int got = 0, rc = -1, left_pending = 0;
        std::atomic<bool> ready{false};
        std::thread t([&] {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, guarded);
            sigaddset(&set, SIGUSR2);
            pthread_sigmask(SIG_BLOCK, &set, nullptr);  // as libmilter does before sigwait()
            ready = true;
            rc = sigwait(&set, &got);
            // The guarded signal is still pending on this thread: for
            // sesmilter's handler had the kernel chosen another thread.
            sigset_t pending;
            sigpending(&pending);
            left_pending = sigismember(&pending, guarded);
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, guarded);
            sigaddset(&one, SIGUSR2);
            const timespec now{0, 0};
            while (sigtimedwait(&one, nullptr, &now) > 0) {
            }  // consume what is left before the thread ends
        });
        while (!ready) std::this_thread::yield();
        // The guarded signal first: the C library's sigwait() would return it.
        pthread_kill(t.native_handle(), guarded);
        pthread_kill(t.native_handle(), SIGUSR2);
        t.join();
        CHECK(rc == 0);
        CHECK(got == SIGUSR2);
        CHECK(left_pending == 1);
    }
}

TEST_CASE("guarded signals are exactly the ones sesmilter handles", "[milter][signals]") {
    CHECK(ses::milter::is_guarded_signal(SIGHUP));
    CHECK(ses::milter::is_guarded_signal(SIGTERM));
    CHECK(ses::milter::is_guarded_signal(SIGINT));
    CHECK_FALSE(ses::milter::is_guarded_signal(SIGUSR1));
    CHECK_FALSE(ses::milter::is_guarded_signal(SIGPIPE));
}
