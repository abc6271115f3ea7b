// command.hpp -- the shape of one sesctl command.
//
// Each area (dkim, warmup, queue, template, auth, identity, ...) exposes
// `std::vector<Command> <area>_commands()`; src/main/sesctl.cpp lists them.
// A command gets the parsed options in a Context and returns the exit code
// (0 ok, 1 failure, 2 usage).  Every command honours --json: with it the
// command prints exactly one JSON document on `out`.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ses::config {
struct Config;
}

namespace ses::ctl {

struct Context {
    const config::Config& cfg;
    bool json = false;
    std::vector<std::string> args;               // positional words after the command path
    std::map<std::string, std::string> options;  // --name value  (without the dashes)
    std::map<std::string, bool> flags;           // --name        (declared in Command::flags)
    std::ostream& out;
    std::ostream& err;

    std::optional<std::string> opt(const std::string& name) const {
        auto it = options.find(name);
        if (it == options.end()) return std::nullopt;
        return it->second;
    }
    bool flag(const std::string& name) const { return flags.count(name) && flags.at(name); }
};

struct Command {
    std::string path;     // "dkim keygen"
    std::string usage;    // "--domain D --selector S [--algorithm rsa|ed25519]"
    std::string summary;  // one line for `sesctl --help`
    std::function<int(Context&)> run;
    std::vector<std::string> flags = {};  // options that take no value, e.g. {"dry-run"}
};

// Print an error for a command: JSON {"error": "..."} with --json, else "sesctl: ...".
int fail(Context& c, const std::string& message, int code = 1);

}  // namespace ses::ctl
