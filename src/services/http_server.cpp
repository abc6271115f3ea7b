// http_server.cpp -- see http_server.hpp.
#include "services/http_server.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/keys.hpp"
#include "services/metrics.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::services {

struct HttpServer::Listener {
    std::string address;
    int fd = -1;
    bool ipv6 = false;
    http::Listener side = http::Listener::both;
    HttpServer* owner = nullptr;
    const http::Router* router = nullptr;
    uint64_t max_body = 0;
    uint64_t max_api_body = 0;
    MHD_Daemon* daemon = nullptr;
};

namespace {

// Per-request state across MHD's calls of the access handler.
struct Pending {
    std::string body;
    uint64_t limit = 0;
    bool too_big = false;
};

MHD_Result collect(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto* m = static_cast<std::map<std::string, std::string>*>(cls);
    if (key) m->emplace(str::lower(key), value ? value : "");
    return MHD_YES;
}

MHD_Result collect_arg(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto* m = static_cast<std::map<std::string, std::string>*>(cls);
    if (key) m->emplace(key, value ? value : "");
    return MHD_YES;
}

MHD_Result send(MHD_Connection* c, const http::Response& r) {
    MHD_Response* resp =
        MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
    MHD_Result ret = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
    MHD_destroy_response(resp);
    metrics::global().inc(metrics::kHttpRequests, {{"code", std::to_string(r.status)}});
    return ret;
}

void completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    delete static_cast<Pending*>(*con_cls);
    *con_cls = nullptr;
}

std::string read_file(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return {};
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

HttpSettings http_settings_from(const config::Config& cfg) {
    namespace k = config::key::http;
    HttpSettings s;
    s.listen = cfg.get(k::listen);
    s.admin_listen = cfg.get(k::admin_listen);
    s.threads = cfg.get(k::threads);
    s.max_connections = cfg.get(k::max_connections);
    s.max_body = cfg.get(k::max_body);
    s.max_api_body = cfg.get(k::max_api_body);
    s.timeout = cfg.get(k::timeout);
    s.tls_cert = cfg.get(k::tls_cert);
    s.tls_key = cfg.get(k::tls_key);
    return s;
}

Result<int> bind_listener(const std::string& address) {
    std::string host, port;
    if (!address.empty() && address[0] == '[') {
        auto close = address.find("]:");
        if (close == std::string::npos) return Error{"http: not [IPv6]:PORT: " + address, {}};
        host = address.substr(1, close - 1);
        port = address.substr(close + 2);
    } else {
        auto colon = address.rfind(':');
        if (colon == std::string::npos) return Error{"http: not HOST:PORT: " + address, {}};
        host = address.substr(0, colon);
        port = address.substr(colon + 1);
    }
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 1 || p > 65535) return Error{"http: bad port in " + address, {}};
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(p));
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(p));
        len = sizeof *v6;
    } else {
        return Error{"http: not an IP address (host names are not resolved): " + address, {}};
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error{"http: socket: " + std::string(std::strerror(errno)), {}};
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 128) != 0) {
        std::string e = std::strerror(errno);
        ::close(fd);
        return Error{"http: cannot listen on " + address + ": " + e, {}};
    }
    return fd;
}

Result<std::unique_ptr<HttpServer>> HttpServer::open(const HttpSettings& s, std::shared_ptr<http::Router> router) {
    std::unique_ptr<HttpServer> srv(new HttpServer);
    srv->s_ = s;
    srv->router_ = std::move(router);
    if (s.tls_cert.empty() != s.tls_key.empty()) return Error{"http: set both tls_cert and tls_key, or neither", {}};
    if (!s.tls_cert.empty()) {
        std::string err;
        srv->cert_ = read_file(s.tls_cert, err);
        if (err.empty()) srv->key_ = read_file(s.tls_key, err);
        if (!err.empty()) return Error{"http.tls: " + err, {}};
    }
    auto add = [&](const std::vector<std::string>& list, http::Listener side) -> Status {
        for (const auto& a : list) {
            auto fd = bind_listener(a);
            if (!fd) return fd.error();
            auto l = std::make_unique<Listener>();
            l->address = a;
            l->fd = *fd;
            l->ipv6 = !a.empty() && a[0] == '[';
            l->side = side;
            l->owner = srv.get();
            srv->listeners_.push_back(std::move(l));
        }
        return ok_status();
    };
    const bool split = !s.admin_listen.empty();
    if (auto st = add(s.listen, split ? http::Listener::public_only : http::Listener::both); !st) return st.error();
    if (auto st = add(s.admin_listen, http::Listener::admin_only); !st) return st.error();
    return srv;
}

namespace {

MHD_Result access(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                  const char* upload_data, size_t* upload_data_size, void** con_cls) {
    auto* l = static_cast<HttpServer::Listener*>(cls);
    auto* p = static_cast<Pending*>(*con_cls);
    if (!p) {
        *con_cls = p = new Pending;
        // The headers are complete at the first call: a request with a valid
        // API key may send up to max_api_body (the sending API's messages),
        // anyone else max_body.
        http::Request head;
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &head.headers);
        p->limit = l->max_api_body > l->max_body && l->router->authenticated(head) ? l->max_api_body : l->max_body;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!p->too_big && p->body.size() + *upload_data_size <= p->limit)
            p->body.append(upload_data, *upload_data_size);
        else
            p->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (p->too_big) return send(c, http::error_response(413, "request body too large"));
    http::Request req;
    req.method = method;
    req.path = url;
    req.body = std::move(p->body);
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &req.headers);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req.query);
    http::Response r;
    try {
        r = l->router->handle(std::move(req), l->side);
    } catch (const std::exception& e) {
        log::error(std::string("http: ") + method + " " + url + ": " + e.what());
        r = http::error_response(500, "internal error");
    }
    return send(c, r);
}

}  // namespace

void HttpServer::start() {
    for (auto& l : listeners_) {
        if (l->daemon) continue;
        l->router = router_.get();
        l->max_body = s_.max_body;
        l->max_api_body = s_.max_api_body;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        if (l->ipv6) flags |= MHD_USE_IPv6;
        if (!cert_.empty()) flags |= MHD_USE_TLS;
        std::vector<MHD_OptionItem> opts{
            {MHD_OPTION_LISTEN_SOCKET, l->fd, nullptr},
            {MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(s_.threads), nullptr},
            {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(s_.max_connections), nullptr},
            {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(s_.timeout), nullptr},
            {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&completed), nullptr},
        };
        if (!cert_.empty()) {
            opts.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(cert_.c_str())});
            opts.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(key_.c_str())});
        }
        opts.push_back({MHD_OPTION_END, 0, nullptr});
        l->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &access, l.get(), MHD_OPTION_ARRAY, opts.data(),
                                     MHD_OPTION_END);
        // Binding already succeeded in open(); what fails here is thread or
        // TLS set-up, which leaves the endpoint off but mail flowing.
        if (!l->daemon)
            log::error("http: cannot serve " + l->address + (cert_.empty() ? "" : " (TLS: check tls_cert/tls_key)"));
        else
            l->fd = -1;  // MHD_stop_daemon closes it
        if (l->daemon)
            log::notice("http: listening on " + l->address + (cert_.empty() ? "" : " (TLS)") +
                        (l->side == http::Listener::public_only  ? " (public routes)"
                         : l->side == http::Listener::admin_only ? " (operator routes)"
                                                                 : ""));
    }
}

void HttpServer::stop() {
    for (auto& l : listeners_)
        if (l->daemon) {
            MHD_stop_daemon(l->daemon);
            l->daemon = nullptr;
        }
}

HttpServer::~HttpServer() {
    stop();
    for (auto& l : listeners_)
        if (l->fd >= 0) ::close(l->fd);
}

}  // namespace ses::services
