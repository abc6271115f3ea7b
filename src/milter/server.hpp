// server.hpp -- libmilter's listener and worker pool as one object.
//
// open() registers the callback table, checks the socket's place and opens
// the socket; start() runs smfi_main() in a thread of its own; a stop is two
// steps so that open sessions can finish:
//
//   stop_accepting()  the listening socket is closed (a unix socket's path
//                     is removed): new MTA connections are refused, sessions
//                     already open keep being served;
//   stop()            smfi_stop(); libmilter's listener is woken at once,
//                     smfi_main() returns and its thread is joined.
//
// libmilter (Debian builds _FFR_WORKERS_POOL) stops serving every session the
// moment smfi_stop() is called, so the caller waits for sessions between
// the two steps (see callbacks.hpp: transactions_in_progress()).
//
// Socket checks (also run by check(), which changes nothing): a unix
// socket's directory is created (mkdir -p, handed to milter.socket_owner)
// or named in the error; a directory anyone may write to is refused unless
// it has the sticky bit (then a warning); a socket another process still
// listens on is refused (a second sesmilter would otherwise take it over).
// TCP sockets get TCP_NODELAY (inherited by accepted sockets on Linux),
// which avoids a ~40 ms Nagle/delayed-ACK stall per milter round trip.
//
// Errors: open()/check() return the reason, naming the config key and path.
// Thread safety: one Server per process (libmilter is process-global);
// stop_accepting() and stop() are called from one controlling thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace ses::milter {

class Server {
public:
    // warnings: things that work but deserve a log line.
    static Result<std::unique_ptr<Server>> open(const config::Config& cfg, std::vector<std::string>& warnings);
    // The checks of open() without creating, binding or changing anything.
    static Status check(const config::Config& cfg, std::vector<std::string>& warnings);

    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void start();           // smfi_main() in its own thread
    void stop_accepting();  // refuse new connections; open sessions go on
    void stop();            // end smfi_main() now and join its thread
    // The whole stop: stop_accepting(), new transactions answered 421 4.3.2,
    // wait until every message in progress has had its end-of-message
    // answer (at most drain_time), then stop().  Returns the number of
    // messages still in progress when drain_time ran out.
    int shutdown(std::chrono::milliseconds drain_time);
    // Called from libmilter's thread when smfi_main() returns although no
    // stop was asked for: libmilter's own signal thread sigwait()s for
    // SIGTERM/SIGHUP/SIGINT and, when the kernel hands a signal to it rather
    // than to the main thread (rare, but allowed), ends the milter by
    // itself.  The daemon then stops as on SIGTERM instead of running on
    // without a milter.  Set before start().
    std::function<void()> on_lost;
    const std::string& socket() const { return socket_; }

private:
    Server() = default;
    void interrupt_listener();

    std::string socket_;     // as configured
    std::string unix_path_;  // "" for TCP
    dev_t sock_dev_ = 0;     // the unix socket we created, so that we
    ino_t sock_ino_ = 0;     // never remove another process's socket
    int listen_fd_ = -1;     // libmilter's listening descriptor
    bool accepting_ = false;
    std::thread thread_;
    std::atomic<bool> returned_{false};
    std::atomic<bool> stop_requested_{false};
};

}  // namespace ses::milter
