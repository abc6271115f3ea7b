// command.cpp -- see command.hpp.
#include "ctl/command.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

namespace ses::ctl {

int fail(Context& c, const std::string& message, int code) {
    if (c.json)
        c.out << nlohmann::json{{"error", message}}.dump() << "\n";
    else
        c.err << "sesctl: " << message << "\n";
    return code;
}

}  // namespace ses::ctl
