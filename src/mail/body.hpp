// body.hpp -- a message body as it streams in: memory first, then a spool file.
//
// A Body keeps its first `threshold` bytes (default 64 KiB) in memory; when
// it grows past that, everything moves to an unlinked temporary file in the
// spool directory (O_TMPFILE, else mkstemp + unlink: nothing to clean up
// after a crash) and later chunks are appended there.  So a daemon with many
// connections carrying large messages holds at most `threshold` bytes of
// body per message; readers (signer, verifier, long-line check) get the body
// in chunks through read().  append() also tracks the longest line (octets
// before CRLF) as the chunks pass, so the long-line check never re-reads a
// body that has none.
//
// The spool directory and threshold are process-wide (set_spool_settings(),
// from [milter] spool_directory / spool_threshold, at start and on reload);
// a Body uses the settings in force when it first spools.
//
// Errors: a spool file that cannot be created or written makes the Body
// failed; the failure is kept and returned by read()/text() (the message is
// answered per on_error: never passed on with a body we did not keep).
// Thread safety: one Body per message, used by one thread at a time;
// set_spool_settings() is thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ses::mail {

struct SpoolSettings {
    std::string directory = "/var/tmp";
    size_t threshold = 64 * 1024;
};
void set_spool_settings(SpoolSettings s);
// Start-up check: a spool file can be made in `dir` (error names the cause).
Status check_spool_directory(const std::string& dir);
SpoolSettings spool_settings();

// Bodies spooled to a file since start (for tests and benchmarks).
unsigned long spooled_bodies();

class Body {
public:
    Body() = default;
    ~Body();
    Body(Body&& o) noexcept;
    Body& operator=(Body&& o) noexcept;
    Body(const Body& o);  // a spooled body is copied into a new spool file
    Body& operator=(const Body& o);

    void append(std::string_view chunk);
    void assign(std::string text);  // replaces the body (kept in memory)

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    bool spooled() const { return fd_ >= 0; }
    size_t longest_line() const;  // octets of the longest line, CR LF excluded
    const std::optional<Error>& failure() const { return failure_; }

    // Calls `sink` with consecutive chunks of the body (none when empty); a
    // sink error stops the read and is returned.
    Status read(const std::function<Status(std::string_view)>& sink) const;
    Result<std::string> text() const;                   // the whole body in one string
    const std::string& memory() const { return mem_; }  // the body when !spooled()

private:
    void spool();
    void track(std::string_view chunk);

    std::string mem_;
    int fd_ = -1;
    size_t size_ = 0;
    size_t line_ = 0;     // octets of the current (unfinished) line, CR included
    size_t longest_ = 0;  // of finished lines, CR LF excluded
    bool cr_ = false;     // the last byte seen was CR
    std::optional<Error> failure_;
};

}  // namespace ses::mail
