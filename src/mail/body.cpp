// body.cpp -- see body.hpp.
#include "mail/body.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace ses::mail {
namespace {

std::mutex g_mu;
SpoolSettings g_settings;
std::atomic<unsigned long> g_spooled{0};

constexpr size_t kReadChunk = 64 * 1024;

int open_spool(const std::string& dir, std::string& why) {
    int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    // O_TMPFILE needs file system support (not every one has it).
    std::string path = dir + "/sesmilter-body-XXXXXX";
    fd = mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) {
        why = std::strerror(errno);
        return -1;
    }
    unlink(path.c_str());
    return fd;
}

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

void set_spool_settings(SpoolSettings s) {
    std::lock_guard lk(g_mu);
    g_settings = std::move(s);
}

SpoolSettings spool_settings() {
    std::lock_guard lk(g_mu);
    return g_settings;
}

Status check_spool_directory(const std::string& dir) {
    std::string why;
    int fd = open_spool(dir, why);
    if (fd < 0) return internal_error("milter.spool_directory " + dir + ": cannot create a spool file: " + why);
    close(fd);
    return ok_status();
}

unsigned long spooled_bodies() { return g_spooled.load(); }

Body::~Body() {
    if (fd_ >= 0) close(fd_);
}

Body::Body(const Body& o) { *this = o; }

Body& Body::operator=(const Body& o) {
    if (this == &o) return *this;
    assign(std::string());
    if (o.failure_) {
        failure_ = o.failure_;
        return *this;
    }
    auto st = o.read([&](std::string_view c) {
        append(c);
        return ok_status();
    });
    if (!st) failure_ = st.error();
    return *this;
}

Body::Body(Body&& o) noexcept { *this = std::move(o); }

Body& Body::operator=(Body&& o) noexcept {
    if (this == &o) return *this;
    if (fd_ >= 0) close(fd_);
    mem_ = std::move(o.mem_);
    fd_ = o.fd_;
    size_ = o.size_;
    line_ = o.line_;
    longest_ = o.longest_;
    cr_ = o.cr_;
    failure_ = std::move(o.failure_);
    o.fd_ = -1;
    o.size_ = o.line_ = o.longest_ = 0;
    o.cr_ = false;
    o.failure_.reset();
    return *this;
}

void Body::track(std::string_view c) {
    const char* p = c.data();
    const char* end = p + c.size();
    while (p < end) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        if (!nl) {
            line_ += static_cast<size_t>(end - p);
            cr_ = end[-1] == '\r';
            return;
        }
        size_t len = line_ + static_cast<size_t>(nl - p);
        bool cr = nl > p ? nl[-1] == '\r' : cr_;
        if (cr && len > 0) --len;
        if (len > longest_) longest_ = len;
        line_ = 0;
        cr_ = false;
        p = nl + 1;
    }
}

size_t Body::longest_line() const {
    size_t last = line_;  // a last line without CRLF counts too
    if (cr_ && last > 0) --last;
    return std::max(longest_, last);
}

void Body::spool() {
    SpoolSettings s = spool_settings();
    std::string why;
    int fd = open_spool(s.directory, why);
    if (fd < 0) {
        failure_ = internal_error("cannot spool the message body in " + s.directory + ": " + why);
        return;
    }
    if (!write_all(fd, mem_.data(), mem_.size())) {
        failure_ = internal_error("cannot write the body spool in " + s.directory + ": " + std::strerror(errno));
        close(fd);
        return;
    }
    fd_ = fd;
    std::string().swap(mem_);  // give the memory back
    g_spooled.fetch_add(1, std::memory_order_relaxed);
}

void Body::append(std::string_view chunk) {
    if (chunk.empty() || failure_) return;
    track(chunk);
    size_ += chunk.size();
    if (fd_ < 0) {
        mem_.append(chunk);
        if (mem_.size() > spool_settings().threshold) spool();
        return;
    }
    if (!write_all(fd_, chunk.data(), chunk.size()))
        failure_ = internal_error(std::string("cannot write the body spool: ") + std::strerror(errno));
}

void Body::assign(std::string text) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    failure_.reset();
    mem_.clear();
    size_ = line_ = longest_ = 0;
    cr_ = false;
    track(text);
    size_ = text.size();
    mem_ = std::move(text);
}

Status Body::read(const std::function<Status(std::string_view)>& sink) const {
    if (failure_) return *failure_;
    if (fd_ < 0) {
        if (mem_.empty()) return ok_status();
        return sink(mem_);
    }
    std::string buf(std::min(kReadChunk, size_), '\0');
    for (size_t off = 0; off < size_;) {
        size_t want = std::min(buf.size(), size_ - off);
        ssize_t n = pread(fd_, buf.data(), want, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return internal_error(std::string("cannot read the body spool: ") + std::strerror(n < 0 ? errno : EIO));
        if (auto st = sink(std::string_view(buf.data(), static_cast<size_t>(n))); !st) return st;
        off += static_cast<size_t>(n);
    }
    return ok_status();
}

Result<std::string> Body::text() const {
    if (failure_) return *failure_;
    if (fd_ < 0) return mem_;
    std::string out;
    out.reserve(size_);
    auto st = read([&](std::string_view c) {
        out.append(c);
        return ok_status();
    });
    if (!st) return st.error();
    return out;
}

}  // namespace ses::mail
