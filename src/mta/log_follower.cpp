// log_follower.cpp -- see log_follower.hpp.
#include "mta/log_follower.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace ses::mta {

// One file being read: plain (fd) or gzip (gz), from `read_off` on.
struct LogFollower::Open {
    int fd = -1;
    gzFile gz = nullptr;
    uint64_t inode = 0;
    bool rotated = false;  // a sibling found after a restart: the path comes next
    std::string buf;       // read, not yet handed out (no newline yet)
    uint64_t skipped = 0;  // bytes of an over-long line dropped after kMaxLine

    ~Open() {
        if (gz)
            gzclose(gz);  // closes fd too
        else if (fd >= 0)
            close(fd);
    }
    // Appends up to n bytes; 0 at the end, -1 on error.
    long read_more(size_t n) {
        size_t old = buf.size();
        buf.resize(old + n);
        long got = gz ? gzread(gz, buf.data() + old, static_cast<unsigned>(n))
                      : static_cast<long>(::read(fd, buf.data() + old, n));
        buf.resize(old + static_cast<size_t>(std::max(0L, got)));
        return got;
    }
};

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first n bytes of a file, decompressed when gz.
std::string head_of(const std::string& path, size_t n, bool gz) {
    std::string out(n, '\0');
    long got = -1;
    if (gz) {
        if (gzFile g = gzopen(path.c_str(), "rb")) {
            got = gzread(g, out.data(), static_cast<unsigned>(n));
            gzclose(g);
        }
    } else {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            got = static_cast<long>(::pread(fd, out.data(), n, 0));
            close(fd);
        }
    }
    out.resize(static_cast<size_t>(std::max(0L, got)));
    return out;
}

std::string fd_head(int fd, size_t n) {
    std::string out(n, '\0');
    long got = static_cast<long>(::pread(fd, out.data(), n, 0));
    out.resize(static_cast<size_t>(std::max(0L, got)));
    return out;
}

bool matches(const LogPosition& pos, const std::string& head) {
    return !pos.fingerprint.empty() && head.size() >= pos.fingerprint.size() &&
           head.compare(0, pos.fingerprint.size(), pos.fingerprint) == 0;
}

}  // namespace

LogFollower::LogFollower(std::string path, LogPosition start) : path_(std::move(path)), pos_(std::move(start)) {}

LogFollower::~LogFollower() { delete open_; }

// Opens the file now at the path from its start, or at its end when no
// position was ever stored (the log before sesmilter ran holds nothing of
// its messages).
Status LogFollower::open_current() {
    delete open_;
    open_ = nullptr;
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return ok_status();
        return internal_error("log " + path_ + ": " + std::strerror(errno));
    }
    struct stat st {};
    fstat(fd, &st);
    auto* o = new Open;
    o->fd = fd;
    o->inode = st.st_ino;
    open_ = o;
    bool first_ever = pos_.empty() && !resumed_;
    pos_.inode = st.st_ino;
    pos_.fingerprint = fd_head(fd, kFingerprint);
    pos_.offset = first_ever ? static_cast<uint64_t>(st.st_size) : 0;
    if (pos_.offset) lseek(fd, static_cast<off_t>(pos_.offset), SEEK_SET);
    return ok_status();
}

// After a restart: the stored file, wherever it is now.
Status LogFollower::resume_rotated(const OnLost& on_lost) {
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0 && st.st_ino == pos_.inode &&
        matches(pos_, head_of(path_, kFingerprint, false))) {
        if (static_cast<uint64_t>(st.st_size) < pos_.offset) {
            if (on_lost)
                on_lost(path_ + " is shorter than the stored position (truncated?): reading it from the start");
            pos_ = {};
            resumed_ = true;
            pos_.inode = 1;  // not "first ever": read from the start
            return open_current();
        }
        int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return internal_error("log " + path_ + ": " + std::strerror(errno));
        open_ = new Open;
        open_->fd = fd;
        open_->inode = st.st_ino;
        lseek(fd, static_cast<off_t>(pos_.offset), SEEK_SET);
        return ok_status();
    }
    // Rotated away: look among PATH.* / PATH-*, uncompressed first (while
    // the compressor runs, its .gz is still incomplete).
    std::string dir = ".", base = path_;
    if (auto slash = path_.rfind('/'); slash != std::string::npos) {
        dir = path_.substr(0, slash ? slash : 1);
        base = path_.substr(slash + 1);
    }
    std::vector<std::string> plain, gz;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (name.size() <= base.size() || name.compare(0, base.size(), base) != 0) continue;
            char sep = name[base.size()];
            if (sep != '.' && sep != '-') continue;
            (ends_with(name, ".gz") ? gz : plain).push_back(dir + "/" + name);
        }
        closedir(d);
    }
    std::sort(plain.begin(), plain.end());
    std::sort(gz.begin(), gz.end());
    for (bool compressed : {false, true}) {
        for (auto& cand : compressed ? gz : plain) {
            if (!matches(pos_, head_of(cand, pos_.fingerprint.size(), compressed))) continue;
            auto* o = new Open;
            if (compressed) {
                o->gz = gzopen(cand.c_str(), "rb");
                if (!o->gz || gzseek(o->gz, static_cast<z_off_t>(pos_.offset), SEEK_SET) < 0) {
                    delete o;
                    continue;
                }
            } else {
                o->fd = ::open(cand.c_str(), O_RDONLY | O_CLOEXEC);
                if (o->fd < 0) {
                    delete o;
                    continue;
                }
                lseek(o->fd, static_cast<off_t>(pos_.offset), SEEK_SET);
            }
            o->rotated = true;
            open_ = o;
            return ok_status();
        }
    }
    if (on_lost)
        on_lost("the log file last read (" + std::to_string(pos_.offset) + " bytes into it) is gone from " + dir +
                ": its unread lines are lost");
    pos_.inode = 1;  // not "first ever": the current file is read from its start
    pos_.fingerprint.clear();
    return open_current();
}

// Hands out complete lines of the open file until its current end.
size_t LogFollower::drain(const OnLine& on_line, size_t max_lines) {
    size_t n = 0;
    size_t scan = 0;
    while (n < max_lines) {
        size_t nl = open_->buf.find('\n', scan);
        if (nl == std::string::npos) {
            if (open_->buf.size() > kMaxLine) {  // keep the head of an over-long line only
                open_->skipped += open_->buf.size() - kMaxLine;
                open_->buf.resize(kMaxLine);
            }
            scan = open_->buf.size();
            if (open_->read_more(64 * 1024) <= 0) break;
            continue;
        }
        std::string_view line(open_->buf.data(), std::min(nl, kMaxLine));
        pos_.offset += nl + 1 + open_->skipped;
        open_->skipped = 0;
        if (pos_.fingerprint.size() < kFingerprint && !open_->gz) pos_.fingerprint = fd_head(open_->fd, kFingerprint);
        on_line(line, pos_);
        open_->buf.erase(0, nl + 1);
        scan = 0;
        ++n;
    }
    return n;
}

Result<size_t> LogFollower::poll(const OnLine& on_line, size_t max_lines, const OnLost& on_lost) {
    if (!resumed_ && !open_) {
        Status st = pos_.empty() ? open_current() : resume_rotated(on_lost);
        resumed_ = true;
        if (!st) return st.error();
    }
    size_t total = 0;
    for (int switches = 0; switches < 4 && total < max_lines; ++switches) {
        if (!open_) {
            if (auto st = open_current(); !st) return st.error();
            if (!open_) return total;
        }
        total += drain(on_line, max_lines - total);
        if (total >= max_lines) break;
        // At the end of this file: has the path moved on to another one?
        struct stat st {};
        bool there = stat(path_.c_str(), &st) == 0;
        if (!open_->rotated && there && st.st_ino == open_->inode) {
            if (!open_->gz && static_cast<uint64_t>(st.st_size) < pos_.offset) {
                if (on_lost)
                    on_lost(path_ + " was truncated under the follower (copytruncate?): reading from its start");
                lseek(open_->fd, 0, SEEK_SET);
                open_->buf.clear();
                pos_.offset = 0;
                continue;
            }
            break;  // same file, nothing more yet
        }
        if (!open_->rotated) total += drain(on_line, max_lines - total);  // the writer's last lines
        if (total >= max_lines) break;
        delete open_;
        open_ = nullptr;
        if (!there) break;  // renamed, not yet re-created: the next poll opens it
        pos_ = {};
        pos_.inode = st.st_ino;  // not "first ever": a new file is read from its start
    }
    return total;
}

}  // namespace ses::mta
