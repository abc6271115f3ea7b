// http_router.hpp -- requests, responses and the route table of the HTTP
// endpoint, without sockets.
//
// A route is a method and a path prefix mapped to a handler(Request) ->
// Response.  Operator routes (API, /metrics) need `Authorization: Bearer
// KEY`, checked by the Authenticator before the handler runs; public routes
// (tracking, unsubscribe) do not.  The longest matching prefix wins; a path
// that matches under another method is 405, nothing at all 404.  The prefix
// "/" matches only "/" itself (the dashboard), not every path.  With a
// separate admin listener each listener only sees its own kind of route.
//
// Errors: a handler answers errors as Responses; an authenticator that
// cannot read the key store makes the request 503 (never let through).
// Thread safety: add routes before serving; handle() is then const and may
// run on many threads at once (handlers must be thread-safe).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ses::http {

struct Request {
    std::string method;                          // "GET"
    std::string path;                            // "/v1/messages/abc" (no query)
    std::map<std::string, std::string> query;    // decoded
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    std::string api_key_name;  // set for operator routes once authenticated

    std::optional<std::string> param(const std::string& name) const;
    std::optional<std::string> header(const std::string& lower_name) const;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": message} with the status.
Response error_response(int status, const std::string& message);
Response json_response(int status, std::string json_text);

// Percent-decoding of a query string ("a=1&b=x%20y"); '+' is a space.
std::map<std::string, std::string> parse_query(std::string_view q);
std::optional<std::string> percent_decode(std::string_view s);

using Handler = std::function<Response(const Request&)>;
// The key's name; "" when no key matches; Error when the store failed.
using Authenticator = std::function<Result<std::string>(std::string_view key)>;

// operator_page: the dashboard's page and assets (they hold no data, so no
// key), served where the operator routes are: the page's API calls are
// same-origin.
enum class Access { public_route, operator_route, operator_page };
enum class Listener { both, public_only, admin_only };

class Router {
public:
    explicit Router(Authenticator auth) : auth_(std::move(auth)) {}
    void add(std::string method, std::string prefix, Access access, Handler h);
    // Public routes whose handlers come later: 404 until replaced by add().
    void stub(std::string method, std::string prefix);
    Response handle(Request req, Listener on = Listener::both) const;
    // Does REQ (its headers are enough) carry a valid API key?  Decides the
    // body limit before the body is read: only operators may send large ones.
    bool authenticated(const Request& req) const;

private:
    struct Route {
        std::string method, prefix;
        Access access;
        Handler handler;
    };
    std::vector<Route> routes_;
    Authenticator auth_;
};

// The segments of PATH after PREFIX: ("/v1/groups/7/export", "/v1/groups")
// -> {"7", "export"}; empty segments are skipped.
std::vector<std::string> path_parts(std::string_view path, std::string_view prefix);

// The token of "Authorization: Bearer TOKEN", or nullopt.
std::optional<std::string> bearer_token(const Request& req);

}  // namespace ses::http
