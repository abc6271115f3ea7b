// log_follower.hpp -- reads an MTA's log file as it grows, across rotations,
// from a remembered position.
//
// The delivery-status follower must count every delivery line exactly once,
// across its own restarts and the MTA's log rotation (`postfix logrotate`
// renames maillog, reloads postlogd, and a second later compresses the
// renamed file with gzip; logrotate(8) does the same with its own names).
//
// A Position names a file by its identity, not its name: the inode it had
// and a fingerprint (its first bytes, up to kFingerprint), plus the offset
// of the first unread byte.  poll() hands out complete lines, each with the
// Position just after it, so the caller can store that Position in the
// same transaction as what the line changed: after a crash the next poll
// starts at the first line not committed, and no line counts twice.
//
// Rotation: while running, the follower keeps the current file open; when
// the path names another file (or none), it first drains the open one to
// its end (postlogd has reopened by then), then moves to the new file from
// its start.  After a restart, when the stored file is no longer at the
// path, it looks for it among the rotated siblings (PATH.* and PATH-*,
// gzip-compressed or not), reads its rest, then the current file.  A file
// that cannot be found any more is reported (lost lines are logged by the
// caller) and reading starts at the current file's beginning.  copytruncate
// rotation cannot be followed without loss (the tail written between copy
// and truncate is gone): documented in docs/status.md.
//
// Errors: poll() fails only when the path exists and cannot be read.
// A missing file is not an error (Postfix creates it at its first line).
// Thread safety: one LogFollower per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ses::mta {

struct LogPosition {
    uint64_t inode = 0;
    std::string fingerprint;  // the file's first bytes (up to kFingerprint)
    uint64_t offset = 0;      // first unread byte (uncompressed)
    bool empty() const { return inode == 0 && fingerprint.empty(); }
    bool operator==(const LogPosition&) const = default;
};

class LogFollower {
public:
    static constexpr size_t kFingerprint = 128;
    static constexpr size_t kMaxLine = 64 * 1024;  // longer lines are cut (Postfix cuts at 2 000)

    LogFollower(std::string path, LogPosition start);
    ~LogFollower();
    LogFollower(const LogFollower&) = delete;
    LogFollower& operator=(const LogFollower&) = delete;

    // Line handler: the line without its newline, and the position after it.
    using OnLine = std::function<void(std::string_view line, const LogPosition& after)>;
    // Note about the stored file not being found after a restart.
    using OnLost = std::function<void(const std::string& what)>;

    // Reads up to max_lines complete lines that are new since the position.
    // Returns how many were handed out (0: nothing new).
    Result<size_t> poll(const OnLine& on_line, size_t max_lines = 10000, const OnLost& on_lost = {});

    const LogPosition& position() const { return pos_; }

private:
    struct Open;
    Status open_current();
    Status resume_rotated(const OnLost& on_lost);
    size_t drain(const OnLine& on_line, size_t max_lines);

    std::string path_;
    LogPosition pos_;
    Open* open_ = nullptr;  // the file being read, if any
    bool resumed_ = false;  // the stored position has been located once
};

}  // namespace ses::mta
