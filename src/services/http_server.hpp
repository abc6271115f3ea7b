// http_server.hpp -- the HTTP endpoint (libmicrohttpd) as a Service.
//
// open() binds the listening sockets ([http] listen, and admin_listen when
// set) and reads the TLS pair, so a busy port or an unreadable key fails
// start-up with a clear message while the daemon still has its privileges;
// start() serves them with a thread pool ([http] threads), limits on
// connections, body size and idle time.  Each request goes through the
// Router; with admin_listen set, `listen` serves only public routes and
// `admin_listen` only operator routes.
//
// Errors: open() fails on a bad address, a bind error or TLS files that
// cannot be read; a request body over max_body is 413.  Thread safety:
// open/start/stop from the main thread; the Router runs on MHD's threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "services/http_router.hpp"
#include "services/services.hpp"
#include "util/result.hpp"

namespace ses::services {

struct HttpSettings {
    std::vector<std::string> listen, admin_listen;
    int64_t threads = 2, max_connections = 64, timeout = 10;
    uint64_t max_body = 64 * 1024;
    uint64_t max_api_body = 16 << 20;  // requests with a valid API key
    std::string tls_cert, tls_key;     // paths; both or neither
};
HttpSettings http_settings_from(const config::Config& cfg);

// "127.0.0.1:8025", "[::1]:8025" -> a bound, listening socket.
Result<int> bind_listener(const std::string& address);

class HttpServer : public Service {
public:
    static Result<std::unique_ptr<HttpServer>> open(const HttpSettings& s, std::shared_ptr<http::Router> router);
    ~HttpServer() override;
    std::string_view name() const override { return "http"; }
    void start() override;
    void stop() override;

    struct Listener;  // one bound socket and its daemon (http_server.cpp)

private:
    HttpServer() = default;
    HttpSettings s_;
    std::shared_ptr<http::Router> router_;
    std::string cert_, key_;  // PEM text
    std::vector<std::unique_ptr<Listener>> listeners_;
};

}  // namespace ses::services
