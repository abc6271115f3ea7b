// smtp_submit.cpp -- submission to the local MTA through libcurl (see
// smtp_submit.hpp).
#include "services/smtp_submit.hpp"

#include <curl/curl.h>

#include <charconv>
#include <cstring>
#include <mutex>

namespace ses::services {
namespace {

struct Upload {
    std::string data;
    size_t pos = 0;
};

size_t read_body(char* buf, size_t size, size_t n, void* p) {
    auto* u = static_cast<Upload*>(p);
    size_t len = std::min(size * n, u->data.size() - u->pos);
    std::memcpy(buf, u->data.data() + u->pos, len);
    u->pos += len;
    return len;
}

// The server's replies, as libcurl sees them: the first refusal decides,
// else the last reply (DATA's).
struct Replies {
    SmtpReply last;
    SmtpReply first_refusal;
    std::string pending;  // text of a multi-line reply so far
};

void take_line(Replies& r, std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.size() < 3) return;
    int code = 0;
    if (std::from_chars(line.data(), line.data() + 3, code).ec != std::errc{}) return;
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    if (!r.pending.empty()) r.pending += ' ';
    r.pending += text;
    if (line.size() > 3 && line[3] == '-') return;  // more lines follow
    SmtpReply reply{code, std::move(r.pending)};
    r.pending.clear();
    if (code >= 400 && r.first_refusal.code == 0) r.first_refusal = reply;
    r.last = std::move(reply);
}

int debug_cb(CURL*, curl_infotype type, char* data, size_t size, void* p) {
    if (type != CURLINFO_HEADER_IN) return 0;
    auto* r = static_cast<Replies*>(p);
    std::string_view chunk(data, size);
    // libcurl hands over one reply line at a time; split anyway.
    while (!chunk.empty()) {
        size_t nl = chunk.find('\n');
        std::string_view line = chunk.substr(0, nl == std::string_view::npos ? chunk.size() : nl + 1);
        take_line(*r, line);
        chunk.remove_prefix(line.size());
    }
    return 0;
}

// RFC 5321 wants CRLF; GMime and templates may give LF.
std::string crlf(std::string_view in) {
    std::string out;
    out.reserve(in.size() + in.size() / 40);
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) out += '\r';
        out += in[i];
    }
    return out;
}

}  // namespace

Status parse_smtp_address(std::string_view s, SubmitConf& conf) {
    std::string host;
    std::string_view port = "25";
    if (!s.empty() && s.front() == '[') {
        size_t close = s.find(']');
        if (close == std::string_view::npos) return internal_error("bad SMTP address (no ']'): " + std::string(s));
        host = std::string(s.substr(1, close - 1));
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return internal_error("bad SMTP address: " + std::string(s));
            port = rest.substr(1);
        }
    } else {
        size_t colon = s.rfind(':');
        if (colon != std::string_view::npos && s.find(':') != colon)
            return internal_error("bad SMTP address (IPv6 needs [brackets]): " + std::string(s));
        host = std::string(s.substr(0, colon));
        if (colon != std::string_view::npos) port = s.substr(colon + 1);
    }
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (host.empty() || ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535)
        return internal_error("bad SMTP address (want HOST:PORT): " + std::string(s));
    conf.host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    conf.port = p;
    return ok_status();
}

struct Submitter::Impl {
    SubmitConf conf;
    CURL* curl = nullptr;
};

Submitter::Submitter(SubmitConf conf) : impl_(std::make_unique<Impl>()) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    impl_->conf = std::move(conf);
}

Submitter::~Submitter() {
    if (impl_->curl) curl_easy_cleanup(impl_->curl);
}

Result<SmtpReply> Submitter::submit(std::string_view from, const std::vector<std::string>& rcpts,
                                    std::string_view message) {
    if (rcpts.empty()) return internal_error("submission without recipients");
    if (!impl_->curl) {
        impl_->curl = curl_easy_init();
        if (!impl_->curl) return internal_error("curl_easy_init failed");
    }
    CURL* c = impl_->curl;
    const SubmitConf& conf = impl_->conf;
    curl_easy_reset(c);  // keeps the connection cache

    std::string url = "smtp://" + conf.host + ":" + std::to_string(conf.port) + "/localhost";
    std::string mail_from = "<" + std::string(from) + ">";
    curl_slist* to = nullptr;
    for (const auto& r : rcpts) to = curl_slist_append(to, ("<" + r + ">").c_str());
    Upload body{crlf(message)};
    Replies replies;
    char errbuf[CURL_ERROR_SIZE] = {0};

    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(c, CURLOPT_READDATA, &body);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.data.size()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, conf.timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, std::min(conf.timeout, 30L));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // the debug callback sees the replies
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, &replies);
    if (conf.starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!conf.user.empty()) {
        curl_easy_setopt(c, CURLOPT_USERNAME, conf.user.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, conf.password.c_str());
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(to);

    if (replies.first_refusal.code) return replies.first_refusal;
    if (rc != CURLE_OK) {
        std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        return internal_error("SMTP submission to " + conf.host + ":" + std::to_string(conf.port) + " failed: " + why);
    }
    return replies.last;
}

}  // namespace ses::services
