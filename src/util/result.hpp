// result.hpp -- a value or an error, carried to the edge.
//
// Per-message failures travel as Result<T> until the milter edge turns them
// into one SMTP reply and one log line.  Error::reply is empty for internal
// failures, which the edge answers per `on_error`.  (std::expected is C++23;
// this is the subset we use.)
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ses {

// An SMTP reply: "550", "5.7.1", "text".  Empty code means "no specific reply".
struct Reply {
    std::string code;
    std::string xcode;
    std::string text;
    bool empty() const { return code.empty(); }
    bool permanent() const { return !code.empty() && code[0] == '5'; }
    std::string str() const { return code + " " + xcode + " " + text; }
};

struct Error {
    std::string what;  // for the log line
    Reply reply;       // for the client; empty = internal failure (on_error)
};

inline Error internal_error(std::string what) { return Error{std::move(what), {}}; }
inline Error reply_error(std::string code, std::string xcode, std::string text) {
    std::string what = text;
    return Error{std::move(what), Reply{std::move(code), std::move(xcode), std::move(text)}};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Status(Ok{}); }

}  // namespace ses
