// http_router.cpp -- see http_router.hpp.
#include "services/http_router.hpp"

#include <nlohmann/json.hpp>

#include "util/strings.hpp"

namespace ses::http {

std::optional<std::string> Request::param(const std::string& name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
}

std::optional<std::string> Request::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
}

Response json_response(int status, std::string json_text) {
    Response r;
    r.status = status;
    r.body = std::move(json_text);
    return r;
}

Response error_response(int status, const std::string& message) {
    return json_response(status, nlohmann::json{{"error", message}}.dump() + "\n");
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            auto hex = [](char h) -> int {
                if (h >= '0' && h <= '9') return h - '0';
                if (h >= 'a' && h <= 'f') return h - 'a' + 10;
                if (h >= 'A' && h <= 'F') return h - 'A' + 10;
                return -1;
            };
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    for (auto& part : str::split(q, '&')) {
        if (part.empty()) continue;
        auto eq = part.find('=');
        auto name = percent_decode(std::string_view(part).substr(0, eq));
        auto value = eq == std::string::npos ? std::optional<std::string>("")
                                             : percent_decode(std::string_view(part).substr(eq + 1));
        // A malformed pair is left out rather than guessed at.
        if (name && value) out.emplace(*name, *value);
    }
    return out;
}

std::optional<std::string> bearer_token(const Request& req) {
    auto h = req.header("authorization");
    if (!h) return std::nullopt;
    std::string_view v = *h;
    constexpr std::string_view kScheme = "bearer ";
    if (v.size() <= kScheme.size() || str::lower(std::string(v.substr(0, kScheme.size()))) != kScheme)
        return std::nullopt;
    v.remove_prefix(kScheme.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty()) return std::nullopt;
    return std::string(v);
}

void Router::add(std::string method, std::string prefix, Access access, Handler h) {
    for (auto& r : routes_)
        if (r.method == method && r.prefix == prefix) {
            r.access = access;
            r.handler = std::move(h);
            return;
        }
    routes_.push_back({std::move(method), std::move(prefix), access, std::move(h)});
}

void Router::stub(std::string method, std::string prefix) {
    add(std::move(method), std::move(prefix), Access::public_route,
        [](const Request&) { return error_response(404, "not found"); });
}

Response Router::handle(Request req, Listener on) const {
    const Route* best = nullptr;
    bool other_method = false;
    for (const auto& r : routes_) {
        if (req.path.compare(0, r.prefix.size(), r.prefix) != 0) continue;
        // "/v1/stats" must not match "/v1/statsx": a prefix ends at '/' or the end.
        if (req.path.size() > r.prefix.size() && r.prefix.back() != '/' && req.path[r.prefix.size()] != '/') continue;
        if (r.prefix == "/" && req.path != "/") continue;
        if (on == Listener::public_only && r.access != Access::public_route) continue;
        if (on == Listener::admin_only && r.access == Access::public_route) continue;
        if (r.method != req.method && !(req.method == "HEAD" && r.method == "GET")) {
            other_method = true;
            continue;
        }
        if (!best || r.prefix.size() > best->prefix.size()) best = &r;
    }
    if (!best) return other_method ? error_response(405, "method not allowed") : error_response(404, "not found");
    if (best->access == Access::operator_route) {
        auto token = bearer_token(req);
        Response denied = error_response(401, "an API key is required: Authorization: Bearer KEY");
        denied.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sesmilter\"");
        if (!token) return denied;
        auto name = auth_ ? auth_(*token) : Result<std::string>(std::string());
        if (!name) return error_response(503, "API keys cannot be read: " + name.error().what);
        if (name->empty()) return denied;
        req.api_key_name = *name;
    }
    return best->handler(req);
}

bool Router::authenticated(const Request& req) const {
    auto token = bearer_token(req);
    if (!token || !auth_) return false;
    auto name = auth_(*token);
    return name && !name->empty();
}

std::vector<std::string> path_parts(std::string_view path, std::string_view prefix) {
    std::vector<std::string> out;
    std::string_view rest = std::string_view(path).substr(prefix.size());
    while (!rest.empty()) {
        if (rest.front() == '/') {
            rest.remove_prefix(1);
            continue;
        }
        size_t slash = rest.find('/');
        out.emplace_back(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    return out;
}

}  // namespace ses::http
