// milter_load -- a load generator that speaks the Sendmail milter protocol
// (version 6) to a filter, the way an MTA such as Postfix does.
//
//   milter_load --socket unix:/path/x.sock --connections 4 --messages 20000
//               --per-session 10 --message bench/data/message.eml
//
// Each of N threads opens milter connections ("sessions"). A session is
// OPTNEG, CONNECT, HELO, then K messages (macros, MAIL, RCPT, DATA, headers,
// EOH, body chunks, EOM, reading the modification replies up to the final
// reply, then ABORT as the MTA's reset), then QUIT. The steps the filter
// turns off with SMFIP_NO* are not sent; replies the filter turns off with
// SMFIP_NR_* are not waited for. Commands that need no reply are batched
// into one write with the next command that does.
//
// Output: one line of JSON with throughput, latency percentiles (first
// command of a message to its final end-of-message reply), errors (any final
// reply other than accept/continue, protocol errors, timeouts, lost
// connections) and "signed" (messages that got a DKIM-Signature header
// added or inserted).
//
// No library: the wire format is a 4-byte big-endian length (command byte
// included), one command byte, and the payload.

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <signal.h>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

// ---- protocol constants (libmilter mfdef.h) --------------------------------

constexpr uint32_t kProtoVersion = 6;
constexpr uint32_t kAllActions = 0x1FF;  // SMFIF_ADDHDRS .. SMFIF_SETSYMLIST

constexpr uint32_t P_NOCONNECT = 0x00000001;
constexpr uint32_t P_NOHELO = 0x00000002;
constexpr uint32_t P_NOMAIL = 0x00000004;
constexpr uint32_t P_NORCPT = 0x00000008;
constexpr uint32_t P_NOBODY = 0x00000010;
constexpr uint32_t P_NOHDRS = 0x00000020;
constexpr uint32_t P_NOEOH = 0x00000040;
constexpr uint32_t P_NR_HDR = 0x00000080;
constexpr uint32_t P_NODATA = 0x00000200;
constexpr uint32_t P_SKIP = 0x00000400;
constexpr uint32_t P_NR_CONN = 0x00001000;
constexpr uint32_t P_NR_HELO = 0x00002000;
constexpr uint32_t P_NR_MAIL = 0x00004000;
constexpr uint32_t P_NR_RCPT = 0x00008000;
constexpr uint32_t P_NR_DATA = 0x00010000;
constexpr uint32_t P_NR_EOH = 0x00040000;
constexpr uint32_t P_NR_BODY = 0x00080000;
constexpr uint32_t P_HDR_LEADSPC = 0x00100000;
// What Postfix 3.x offers with milter_protocol = 6 (MILTER8_V6_PROTO_MASK):
// every "don't send", every "no reply", SKIP, RCPT_REJ and HDR_LEADSPC.
constexpr uint32_t kPostfixV6Proto = 0x001FFFFF;

constexpr size_t kMaxChunk = 65535;

// ---- options ---------------------------------------------------------------

struct Options {
    std::string socket;
    int connections = 4;
    long messages = 1000;
    int per_session = 10;
    long warmup = 0;
    std::string message_file;
    std::string from = "<sender@example.com>";
    std::string rcpt = "<rcpt@example.net>";
    uint32_t proto_offer = kPostfixV6Proto;
    int timeout_ms = 30000;
    std::string save_signed;  // write the first modified message here
    bool verbose = false;
    int pause_ms = 0;        // hold every connection just before its first EOM this long
    std::string pause_mark;  // created when all connections are held there
};

// --pause-before-eom: every connection stops before the end of its first
// message until all of them are there (the filter then holds N messages
// in mid-flight, for a memory reading), then they wait pause_ms together.
struct PauseBarrier {
    std::mutex mu;
    std::condition_variable cv;
    int arrived = 0;
    bool released = false;
};
PauseBarrier g_pause;

void pause_point(const Options& o) {
    thread_local bool done = false;
    if (o.pause_ms <= 0 || done) return;
    done = true;
    std::unique_lock<std::mutex> lk(g_pause.mu);
    if (++g_pause.arrived == o.connections) {
        if (!o.pause_mark.empty()) std::ofstream(o.pause_mark) << "held " << o.connections << " connections\n";
        lk.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_ms));
        lk.lock();
        g_pause.released = true;
        g_pause.cv.notify_all();
        return;
    }
    // a connection that failed earlier never arrives: give up after the timeout
    g_pause.cv.wait_for(lk, std::chrono::milliseconds(o.timeout_ms), [] { return g_pause.released; });
}

[[noreturn]] void usage(const char* why) {
    if (why) std::fprintf(stderr, "milter_load: %s\n", why);
    std::fprintf(stderr,
                 "usage: milter_load --socket unix:/path|inet:port@host --message FILE\n"
                 "  [--connections N=4] [--messages M=1000] [--per-session K=10]\n"
                 "  [--warmup W=0] [--from ADDR] [--rcpt ADDR] [--timeout-ms T=30000]\n"
                 "  [--proto-flags HEX (offered SMFIP_*, default 0x1FFFFF as Postfix)]\n"
                 "  [--save-signed FILE (first signed message with the filter's headers and body applied)]\n"
                 "  [--pause-before-eom MS [--pause-mark FILE]] (all connections stop before their first\n"
                 "   end of message, FILE is created, they wait MS together; needs --warmup 0)\n"
                 "  [--verbose]\n");
    std::exit(2);
}

std::string angle(std::string a) {
    if (a.empty() || a.front() != '<') a = "<" + a + ">";
    return a;
}

// ---- the message -----------------------------------------------------------

struct Header {
    std::string name;
    std::string value;  // text after the colon, folding kept as "\n" + WSP
};

struct Message {
    std::vector<Header> headers;
    std::string body;  // CRLF line ends
    std::string raw;   // the whole message, CRLF line ends
};

Message load_message(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "milter_load: cannot read %s\n", path.c_str());
        std::exit(2);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    // Normalise to CRLF.
    std::string crlf;
    crlf.reserve(text.size() + text.size() / 32);
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\r') {
            crlf += "\r\n";
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        } else if (c == '\n') {
            crlf += "\r\n";
        } else {
            crlf += c;
        }
    }
    Message m;
    m.raw = crlf;
    size_t pos = 0;
    while (pos < crlf.size()) {
        size_t eol = crlf.find("\r\n", pos);
        if (eol == std::string::npos) eol = crlf.size();
        std::string_view line(crlf.data() + pos, eol - pos);
        size_t next = std::min(eol + 2, crlf.size());
        if (line.empty()) {
            pos = next;
            break;
        }
        if ((line[0] == ' ' || line[0] == '\t') && !m.headers.empty()) {
            m.headers.back().value += "\n";
            m.headers.back().value += line;
        } else {
            size_t colon = line.find(':');
            if (colon == std::string_view::npos) {
                std::fprintf(stderr, "milter_load: not a header line: %.*s\n", (int)line.size(), line.data());
                std::exit(2);
            }
            std::string name(line.substr(0, colon));
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
            m.headers.push_back({name, std::string(line.substr(colon + 1))});
        }
        pos = next;
    }
    m.body = pos < crlf.size() ? crlf.substr(pos) : std::string();
    if (m.headers.empty()) {
        std::fprintf(stderr, "milter_load: %s has no headers\n", path.c_str());
        std::exit(2);
    }
    return m;
}

// ---- connection ------------------------------------------------------------

struct ProtoError {
    std::string what;
};

int open_socket(const std::string& spec) {
    if (spec.rfind("unix:", 0) == 0 || spec.rfind("local:", 0) == 0 || spec[0] == '/') {
        std::string path = spec[0] == '/' ? spec : spec.substr(spec.find(':') + 1);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (path.size() >= sizeof sa.sun_path) throw ProtoError{"socket path too long"};
        std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw ProtoError{std::string("socket: ") + std::strerror(errno)};
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            int e = errno;
            ::close(fd);
            throw ProtoError{"connect " + path + ": " + std::strerror(e)};
        }
        return fd;
    }
    if (spec.rfind("inet:", 0) == 0 || spec.rfind("inet6:", 0) == 0) {
        std::string rest = spec.substr(spec.find(':') + 1);
        std::string port = rest, host = "127.0.0.1";
        if (auto at = rest.find('@'); at != std::string::npos) {
            port = rest.substr(0, at);
            host = rest.substr(at + 1);
        }
        addrinfo hints{}, *res = nullptr;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
            throw ProtoError{"cannot resolve " + host};
        int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
            int e = errno;
            if (fd >= 0) ::close(fd);
            freeaddrinfo(res);
            throw ProtoError{"connect " + spec + ": " + std::strerror(e)};
        }
        freeaddrinfo(res);
        int one = 1;  // no Nagle: every command waits for a reply
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        return fd;
    }
    throw ProtoError{"unknown socket spec " + spec + " (unix:/path or inet:port@host)"};
}

class Conn {
public:
    Conn(const std::string& spec, int timeout_ms) : fd_(open_socket(spec)), tcp_(spec.rfind("inet", 0) == 0) {
        timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    ~Conn() {
        if (fd_ >= 0) ::close(fd_);
    }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    // Queue a command; it goes out with the next flush().
    void put(char cmd, std::string_view payload) {
        uint32_t len = htonl(static_cast<uint32_t>(payload.size() + 1));
        out_.append(reinterpret_cast<const char*>(&len), 4);
        out_ += cmd;
        out_.append(payload.data(), payload.size());
    }

    void flush() {
        size_t off = 0;
        while (off < out_.size()) {
            ssize_t n = ::send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) throw ProtoError{"timeout sending to the filter"};
                throw ProtoError{std::string("send: ") + std::strerror(errno)};
            }
            off += static_cast<size_t>(n);
        }
        out_.clear();
    }

    // Flush pending commands, then read one reply packet.
    char get(std::string& payload) {
        flush();
        ++replies;
        need(5);
        uint32_t len;
        std::memcpy(&len, in_.data() + in_pos_, 4);
        len = ntohl(len);
        if (len < 1 || len > (64u << 20)) throw ProtoError{"bad reply length " + std::to_string(len)};
        need(4 + len);
        char cmd = in_[in_pos_ + 4];
        payload.assign(in_.data() + in_pos_ + 5, len - 1);
        in_pos_ += 4 + len;
        return cmd;
    }

private:
    // Blocking reads with SO_RCVTIMEO: one syscall per read, no poll().
    void need(size_t n) {
        while (in_.size() - in_pos_ < n) {
            if (in_pos_ > 0) {
                in_.erase(0, in_pos_);
                in_pos_ = 0;
            }
            char buf[65536];
            ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
            if (r == 0) throw ProtoError{"filter closed the connection"};
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) throw ProtoError{"timeout waiting for the filter"};
                throw ProtoError{std::string("recv: ") + std::strerror(errno)};
            }
            in_.append(buf, static_cast<size_t>(r));
            // The filter's side keeps Nagle on (libmilter does not set
            // TCP_NODELAY): its second small reply at end of message waits
            // for our ACK. Linux clears QUICKACK again, so re-arm it after
            // every read or delayed ACKs add ~40 ms per message.
            if (tcp_) {
                int one = 1;
                setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
            }
        }
    }

public:
    long replies = 0;  // reply packets read (round trips, plus multi-packet EOM replies)

private:
    int fd_;
    bool tcp_;
    std::string out_;
    std::string in_;
    size_t in_pos_ = 0;
};

std::string nul_join(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) {
        s.append(p.data(), p.size());
        s += '\0';
    }
    return s;
}

std::string macros(char stage, std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
    std::string s(1, stage);
    for (auto& [k, v] : kv) {
        s.append(k.data(), k.size());
        s += '\0';
        s.append(v.data(), v.size());
        s += '\0';
    }
    return s;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// ---- one session -----------------------------------------------------------

enum class Outcome { Ok, Error };

struct MsgResult {
    Outcome outcome = Outcome::Ok;
    bool signed_ = false;
    std::string error;
};

struct Mods {                                               // modifications seen at end of message
    std::vector<std::pair<uint32_t, std::string>> inserts;  // index, "Name: value"
    std::vector<std::string> adds;
    std::string body;  // SMFIR_REPLBODY chunks, joined
    bool body_replaced = false;
    int other = 0;
};

struct Stats {
    std::vector<double> lat_ms;
    long replies = 0;
    uint32_t pflags = 0, actions = 0;
    long messages = 0;
    long errors = 0;
    long signed_ = 0;
    long sessions = 0;
};

std::atomic<uint64_t> g_qid{0x10000};
std::mutex g_err_mu;
int g_errs_printed = 0;
std::mutex g_save_mu;
bool g_saved = false;

void note_error(const Options& o, const std::string& what) {
    std::lock_guard lk(g_err_mu);
    if (g_errs_printed < 10 || o.verbose) {
        std::fprintf(stderr, "milter_load: %s\n", what.c_str());
        ++g_errs_printed;
    }
}

class Session {
public:
    Session(const Options& o, const Message& m) : o_(o), m_(m), c_(o.socket, o.timeout_ms) {}

    // OPTNEG, CONNECT, HELO. If the filter accepts or rejects the whole
    // connection here, message() sends it nothing more (as Postfix does).
    void start() {
        std::string p(12, '\0');
        uint32_t v[3] = {htonl(kProtoVersion), htonl(kAllActions), htonl(o_.proto_offer)};
        std::memcpy(p.data(), v, 12);
        c_.put('O', p);
        std::string r;
        char cmd = c_.get(r);
        if (cmd != 'O' || r.size() < 12) throw ProtoError{std::string("bad OPTNEG reply '") + cmd + "'"};
        uint32_t f[3];
        std::memcpy(f, r.data(), 12);
        version_ = ntohl(f[0]);
        actions_ = ntohl(f[1]);
        pflags_ = ntohl(f[2]);
        if (pflags_ & ~o_.proto_offer & 0x001FFFFF)
            throw ProtoError{"filter asked for protocol flags not offered: 0x" + hex(pflags_ & ~o_.proto_offer)};
        if (actions_ & ~kAllActions) throw ProtoError{"filter asked for unknown actions 0x" + hex(actions_)};
        if (o_.verbose)
            std::fprintf(stderr, "milter_load: negotiated version %u actions 0x%x protocol 0x%x\n", version_, actions_,
                         pflags_);

        unsigned long sid = ++g_qid;
        client_port_ = static_cast<uint16_t>(1024 + sid % 60000);
        if (!(pflags_ & P_NOCONNECT)) {
            c_.put('D', macros('C', {{"j", "mx.example.net"},
                                     {"{daemon_name}", "smtpd"},
                                     {"{daemon_addr}", "127.0.0.1"},
                                     {"v", "Postfix 3.7.11"},
                                     {"_", "client.example.org [127.0.0.1]"},
                                     {"{client_addr}", "127.0.0.1"},
                                     {"{client_name}", "client.example.org"}}));
            std::string conn = "client.example.org";
            conn += '\0';
            conn += '4';
            uint16_t port = htons(client_port_);
            conn.append(reinterpret_cast<const char*>(&port), 2);
            conn += "127.0.0.1";
            conn += '\0';
            c_.put('C', conn);
            if (!step(P_NR_CONN, "CONNECT")) return;
        }
        if (!(pflags_ & P_NOHELO)) {
            c_.put('H', nul_join({"client.example.org"}));
            if (!step(P_NR_HELO, "HELO")) return;
        }
    }

    long replies() const { return c_.replies; }
    uint32_t pflags() const { return pflags_; }
    uint32_t actions() const { return actions_; }

    // One message; t0 is set at its first command.
    MsgResult message(std::chrono::steady_clock::time_point& t0) {
        MsgResult res;
        t0 = std::chrono::steady_clock::now();
        if (conn_state_ == ConnState::Accepted) return res;  // MTA sends nothing
        if (conn_state_ == ConnState::Rejected) {
            res.outcome = Outcome::Error;
            res.error = "connection rejected by the filter at " + conn_reject_stage_;
            return res;
        }
        char qid[32];
        std::snprintf(qid, sizeof qid, "%llX", static_cast<unsigned long long>(++g_qid));
        msg_final_ = 0;
        msg_stage_.clear();

        auto finish = [&]() {
            if (msg_final_ && msg_final_ != 'a' && msg_final_ != 'c') {
                res.outcome = Outcome::Error;
                res.error = std::string("reply '") + msg_final_ + "' at " + msg_stage_;
            }
        };

        if (!(pflags_ & P_NOMAIL)) {
            c_.put('D', macros('M', {{"{mail_addr}", o_.from}, {"{mail_mailer}", "smtp"}, {"i", qid}}));
            c_.put('M', nul_join({angle(o_.from), "SIZE=2000"}));
            if (!mstep(P_NR_MAIL, "MAIL")) return finish(), res;
        }
        if (!(pflags_ & P_NORCPT)) {
            c_.put('D', macros('R', {{"{rcpt_addr}", o_.rcpt}, {"{rcpt_mailer}", "smtp"}, {"i", qid}}));
            c_.put('R', nul_join({angle(o_.rcpt)}));
            if (!mstep(P_NR_RCPT, "RCPT")) return finish(), res;
        }
        if (!(pflags_ & P_NODATA)) {
            c_.put('D', macros('T', {{"i", qid}}));
            c_.put('T', "");
            if (!mstep(P_NR_DATA, "DATA")) return finish(), res;
        }
        if (!(pflags_ & P_NOHDRS)) {
            bool lead = pflags_ & P_HDR_LEADSPC;
            for (const auto& h : m_.headers) {
                std::string_view v = h.value;
                if (!lead) {
                    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
                }
                c_.put('L', nul_join({h.name, v}));
                if (!mstep(P_NR_HDR, "HEADER")) return finish(), res;
                if (skip_) break;
            }
            skip_ = false;
        }
        if (!(pflags_ & P_NOEOH)) {
            c_.put('D', macros('N', {{"i", qid}}));
            c_.put('N', "");
            if (!mstep(P_NR_EOH, "EOH")) return finish(), res;
        }
        if (!(pflags_ & P_NOBODY)) {
            for (size_t off = 0; off < m_.body.size(); off += kMaxChunk) {
                c_.put('B', std::string_view(m_.body).substr(off, kMaxChunk));
                if (!mstep(P_NR_BODY, "BODY")) return finish(), res;
                if (skip_) break;
            }
            skip_ = false;
        }
        pause_point(o_);
        c_.put('D', macros('E', {{"i", qid}}));
        c_.put('E', "");
        Mods mods;
        std::string r;
        for (;;) {
            char cmd = c_.get(r);
            if (is_final(cmd)) {
                msg_final_ = cmd;
                msg_stage_ = "EOM";
                break;
            }
            switch (cmd) {
                case 'h': {  // name\0value\0
                    auto [n, v] = two(r);
                    if (ieq(n, "DKIM-Signature")) res.signed_ = true;
                    mods.adds.push_back(std::string(n) + ":" + std::string(v));
                    break;
                }
                case 'i': {  // index(4) name\0value\0
                    if (r.size() < 4) throw ProtoError{"short SMFIR_INSHEADER"};
                    uint32_t idx;
                    std::memcpy(&idx, r.data(), 4);
                    auto [n, v] = two(std::string_view(r).substr(4));
                    if (ieq(n, "DKIM-Signature")) res.signed_ = true;
                    mods.inserts.push_back({ntohl(idx), std::string(n) + ":" + std::string(v)});
                    break;
                }
                case 'b':
                    mods.body += r;
                    mods.body_replaced = true;
                    ++mods.other;
                    break;
                case 'm':
                case 'e':
                case '+':
                case '-':
                case '2':
                case 'q':
                    ++mods.other;
                    break;
                case 'p':  // progress: keep waiting
                    break;
                default:
                    throw ProtoError{std::string("unexpected reply '") + cmd + "' at EOM"};
            }
        }
        finish();
        if (res.outcome == Outcome::Ok && !o_.save_signed.empty() && res.signed_) save(mods);
        return res;
    }

    // MTA's reset between messages (libmilter ignores it after EOM).
    void reset() {
        if (conn_state_ == ConnState::Open) c_.put('A', "");
    }

    void quit() {
        c_.put('Q', "");
        c_.flush();
    }

private:
    enum class ConnState { Open, Accepted, Rejected };

    static bool is_final(char c) {
        return c == 'a' || c == 'c' || c == 'r' || c == 't' || c == 'y' || c == 'd' || c == 'f' || c == '4';
    }
    static std::string hex(uint32_t v) {
        char b[16];
        std::snprintf(b, sizeof b, "%x", v);
        return b;
    }
    static std::pair<std::string_view, std::string_view> two(std::string_view p) {
        size_t z = p.find('\0');
        if (z == std::string_view::npos) throw ProtoError{"malformed header reply"};
        std::string_view n = p.substr(0, z), v = p.substr(z + 1);
        if (!v.empty() && v.back() == '\0') v.remove_suffix(1);
        return {n, v};
    }

    // A connection-level step: false if the filter is done with the session.
    bool step(uint32_t nr_bit, const char* stage) {
        if (pflags_ & nr_bit) return true;
        std::string r;
        char cmd = c_.get(r);
        if (cmd == 'c') return true;
        if (cmd == 'a') {
            conn_state_ = ConnState::Accepted;
            return false;
        }
        if (is_final(cmd)) {
            conn_state_ = ConnState::Rejected;
            conn_reject_stage_ = stage;
            return false;
        }
        throw ProtoError{std::string("unexpected reply '") + cmd + "' at " + stage};
    }

    // A message step: false if the message is finished (accept/reject/...).
    bool mstep(uint32_t nr_bit, const char* stage) {
        if (pflags_ & nr_bit) return true;
        std::string r;
        char cmd = c_.get(r);
        if (cmd == 'c') return true;
        if (cmd == 's' && (pflags_ & P_SKIP)) {
            skip_ = true;
            return true;
        }
        if (is_final(cmd)) {
            msg_final_ = cmd;
            msg_stage_ = stage;
            return false;
        }
        throw ProtoError{std::string("unexpected reply '") + cmd + "' at " + stage};
    }

    void save(const Mods& mods) {
        std::lock_guard lk(g_save_mu);
        if (g_saved) return;
        g_saved = true;
        // Rebuild the message as the MTA would store it: inserts at their
        // index among the original headers, adds at the end of the header.
        std::vector<std::string> hs;
        for (const auto& h : m_.headers) hs.push_back(h.name + ":" + h.value);
        auto fix = [](std::string s) {  // "\n" folding -> CRLF
            std::string o;
            for (size_t i = 0; i < s.size(); ++i) {
                if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) o += '\r';
                o += s[i];
            }
            return o;
        };
        for (auto& h : hs) h = fix(h);
        for (const auto& [idx, h] : mods.inserts) {
            std::string line = h;
            if ((pflags_ & P_HDR_LEADSPC) == 0) line.insert(line.find(':') + 1, " ");
            hs.insert(hs.begin() + std::min<size_t>(idx, hs.size()), fix(line));
        }
        for (const auto& h : mods.adds) {
            std::string line = h;
            if ((pflags_ & P_HDR_LEADSPC) == 0) line.insert(line.find(':') + 1, " ");
            hs.push_back(fix(line));
        }
        std::ofstream out(o_.save_signed, std::ios::binary);
        for (const auto& h : hs) out << h << "\r\n";
        out << "\r\n" << (mods.body_replaced ? mods.body : m_.body);
    }

    const Options& o_;
    const Message& m_;
    Conn c_;
    uint32_t version_ = 0, actions_ = 0, pflags_ = 0;
    uint16_t client_port_ = 0;
    ConnState conn_state_ = ConnState::Open;
    std::string conn_reject_stage_;
    char msg_final_ = 0;
    std::string msg_stage_;
    bool skip_ = false;
};

// ---- the run ---------------------------------------------------------------

void worker(const Options& o, const Message& m, std::atomic<long>& left, Stats& st) {
    std::unique_ptr<Session> s;
    int in_session = 0;
    while (left.fetch_sub(1) > 0) {
        std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
        try {
            if (s && in_session >= o.per_session) {
                st.replies += s->replies();
                s->quit();
                s.reset();
            }
            if (!s) {
                s = std::make_unique<Session>(o, m);
                s->start();
                in_session = 0;
                ++st.sessions;
                st.pflags = s->pflags();
                st.actions = s->actions();
            }
            MsgResult r = s->message(t0);
            auto t1 = std::chrono::steady_clock::now();
            ++in_session;
            ++st.messages;
            st.lat_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            if (r.outcome == Outcome::Error) {
                ++st.errors;
                note_error(o, r.error);
            }
            if (r.signed_) ++st.signed_;
            s->reset();
        } catch (const ProtoError& e) {
            auto t1 = std::chrono::steady_clock::now();
            ++st.messages;
            ++st.errors;
            st.lat_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            note_error(o, e.what);
            if (s) st.replies += s->replies();
            s.reset();  // drop the connection, as an MTA would
        }
    }
    if (s) {
        st.replies += s->replies();
        try {
            s->quit();
        } catch (const ProtoError&) {
        }
    }
}

Stats run(const Options& o, const Message& m, long total, double& seconds) {
    std::atomic<long> left{total};
    std::vector<Stats> per(o.connections);
    std::vector<std::thread> ts;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.connections; ++i)
        ts.emplace_back(worker, std::cref(o), std::cref(m), std::ref(left), std::ref(per[i]));
    for (auto& t : ts) t.join();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Stats all;
    for (auto& s : per) {
        all.lat_ms.insert(all.lat_ms.end(), s.lat_ms.begin(), s.lat_ms.end());
        all.messages += s.messages;
        all.errors += s.errors;
        all.signed_ += s.signed_;
        all.sessions += s.sessions;
        all.replies += s.replies;
        if (s.sessions) {
            all.pflags = s.pflags;
            all.actions = s.actions;
        }
    }
    return all;
}

double pct(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) return a.substr(eq + 1);
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        std::string key = a.substr(0, a.find('='));
        try {
            if (key == "--socket")
                o.socket = val();
            else if (key == "--connections")
                o.connections = std::stoi(val());
            else if (key == "--messages")
                o.messages = std::stol(val());
            else if (key == "--per-session")
                o.per_session = std::stoi(val());
            else if (key == "--warmup")
                o.warmup = std::stol(val());
            else if (key == "--message")
                o.message_file = val();
            else if (key == "--from")
                o.from = val();
            else if (key == "--rcpt")
                o.rcpt = val();
            else if (key == "--timeout-ms")
                o.timeout_ms = std::stoi(val());
            else if (key == "--proto-flags")
                o.proto_offer = static_cast<uint32_t>(std::stoul(val(), nullptr, 0));
            else if (key == "--save-signed")
                o.save_signed = val();
            else if (key == "--pause-before-eom")
                o.pause_ms = std::stoi(val());
            else if (key == "--pause-mark")
                o.pause_mark = val();
            else if (key == "--verbose" || key == "-v")
                o.verbose = true;
            else if (key == "--help" || key == "-h")
                usage(nullptr);
            else
                usage(("unknown option " + a).c_str());
        } catch (const std::logic_error&) {
            usage(("bad value for " + key).c_str());
        }
    }
    if (o.socket.empty()) usage("--socket is required");
    if (o.message_file.empty()) usage("--message is required");
    if (o.connections < 1 || o.messages < 1 || o.per_session < 1 || o.warmup < 0) usage("counts must be positive");
    if (o.pause_ms > 0 && (o.warmup > 0 || o.messages < o.connections))
        usage("--pause-before-eom needs --warmup 0 and at least one message per connection");

    Message m = load_message(o.message_file);

    double secs = 0;
    if (o.warmup > 0) {
        std::string keep = o.save_signed;
        o.save_signed.clear();
        run(o, m, o.warmup, secs);
        o.save_signed = keep;
    }
    auto cpu_now = [] {
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    };
    double cpu0 = cpu_now();
    Stats st = run(o, m, o.messages, secs);
    double cpu = cpu_now() - cpu0;
    std::sort(st.lat_ms.begin(), st.lat_ms.end());
    double mx = st.lat_ms.empty() ? 0 : st.lat_ms.back();
    std::printf(
        "{\"messages\":%ld,\"seconds\":%.3f,\"msg_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
        "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%ld,\"signed\":%ld,\"connections\":%d,"
        "\"per_session\":%d,\"sessions\":%ld,\"client_cpu_s\":%.3f,\"replies_per_msg\":%.2f,"
        "\"filter_actions\":\"0x%x\",\"filter_protocol\":\"0x%x\"}\n",
        st.messages, secs, secs > 0 ? static_cast<double>(st.messages) / secs : 0.0, pct(st.lat_ms, 50),
        pct(st.lat_ms, 90), pct(st.lat_ms, 99), mx, st.errors, st.signed_, o.connections, o.per_session, st.sessions,
        cpu, st.messages ? static_cast<double>(st.replies) / static_cast<double>(st.messages) : 0.0, st.actions,
        st.pflags);
    return st.errors > 0 ? 1 : 0;
}
