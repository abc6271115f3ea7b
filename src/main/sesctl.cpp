// sesctl.cpp -- the operator's command line.
//
// NAME
//   sesctl - inspect and steer sesmilter
// SUMMARY
//   sesctl [-c FILE] [--json] [--now TIME] COMMAND [ARGS]
// DESCRIPTION
//   Commands come from each area's <area>_commands() list (src/ctl/).  They
//   share the daemon's configuration file and LMDB environment.  --json
//   makes every command print one JSON document.  --now pins the clock
//   (RFC 3339), like the SESMILTER_NOW environment variable.
// DIAGNOSTICS
//   Exit 0 on success, 1 on failure, 2 on a usage error.

#include <sys/stat.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ctl/command.hpp"
#include "ctl/auth_cmd.hpp"
#include "ctl/dkim_cmd.hpp"
#include "ctl/identity_cmd.hpp"
#include "ctl/queue_cmd.hpp"
#include "ctl/template_cmd.hpp"
#include "ctl/warmup_cmd.hpp"
#include "mail/address.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

using namespace ses;

namespace {

constexpr const char* kDefaultConfig = "/etc/sesmilter/sesmilter.toml";

std::vector<ctl::Command> all_commands() {
    std::vector<ctl::Command> all;
    for (auto list : {ctl::dkim_commands, ctl::identity_commands, ctl::auth_commands, ctl::warmup_commands,
                      ctl::queue_commands, ctl::template_commands}) {
        auto cmds = list();
        all.insert(all.end(), cmds.begin(), cmds.end());
    }
    return all;
}

void help(std::ostream& o, const std::vector<ctl::Command>& cmds) {
    o << "usage: sesctl [-c FILE] [--json] [--now TIME] COMMAND [ARGS]\n\n"
         "  -c FILE     configuration file (default "
      << kDefaultConfig
      << ")\n"
         "  --json      print one JSON document\n"
         "  --now TIME  pin the clock (RFC 3339), like SESMILTER_NOW\n\n"
         "commands:\n";
    for (auto& c : cmds) o << "  " << c.path << " " << c.usage << "\n      " << c.summary << "\n";
}

void help_json(std::ostream& o, const std::vector<ctl::Command>& cmds) {
    nlohmann::json j = nlohmann::json::array();
    for (auto& c : cmds) j.push_back({{"command", c.path}, {"usage", c.usage}, {"summary", c.summary}});
    o << nlohmann::json{{"commands", j}}.dump(2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string cfg_path = kDefaultConfig;
    bool cfg_given = false, json = false, want_help = false;
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if ((a == "-c" || a == "--config") && i + 1 < args.size()) {
            cfg_path = args[++i];
            cfg_given = true;
        } else if (a == "--json") {
            json = true;
        } else if (a == "--now" && i + 1 < args.size()) {
            auto t = clock::parse_rfc3339(args[++i]);
            if (!t) {
                std::cerr << "sesctl: --now: not an RFC 3339 time: " << args[i] << "\n";
                return 2;
            }
            clock::set_override(*t);
        } else if (a == "-h" || a == "--help" || a == "help") {
            want_help = true;
        } else {
            rest.push_back(a);
        }
    }
    auto cmds = all_commands();
    // Longest command path that the leading words spell.
    const ctl::Command* cmd = nullptr;
    size_t words = 0;
    for (auto& c : cmds) {
        auto parts = str::split(c.path, ' ');
        if (parts.size() > rest.size() || parts.size() <= words) continue;
        bool match = true;
        for (size_t k = 0; k < parts.size(); ++k) match = match && parts[k] == rest[k];
        if (match) {
            cmd = &c;
            words = parts.size();
        }
    }
    if (want_help || rest.empty()) {
        if (cmd && want_help) {
            std::cout << "usage: sesctl " << cmd->path << " " << cmd->usage << "\n  " << cmd->summary << "\n";
            return 0;
        }
        json ? help_json(std::cout, cmds) : help(std::cout, cmds);
        return rest.empty() && !want_help ? 2 : 0;
    }
    if (!cmd) {
        std::cerr << "sesctl: unknown command: " << rest[0] << " (sesctl --help lists them)\n";
        return 2;
    }

    mail::init();
    struct stat st;
    Result<config::Config> cfg = (cfg_given || stat(cfg_path.c_str(), &st) == 0)
                                     ? config::load_file(cfg_path)
                                     : config::load_string("", "<defaults>");
    if (!cfg) {
        std::cerr << cfg.error().what << "\n";
        return 1;
    }

    ctl::Context ctx{*cfg, json, {}, {}, {}, std::cout, std::cerr};
    for (size_t i = words; i < rest.size(); ++i) {
        const std::string& a = rest[i];
        if (a.rfind("--", 0) == 0 && a.size() > 2) {
            std::string name = a.substr(2);
            if (auto eq = name.find('='); eq != std::string::npos) {
                ctx.options[name.substr(0, eq)] = name.substr(eq + 1);
                continue;
            }
            bool is_flag = false;
            for (auto& f : cmd->flags) is_flag = is_flag || f == name;
            if (is_flag) {
                ctx.flags[name] = true;
            } else if (i + 1 < rest.size()) {
                ctx.options[name] = rest[++i];
            } else {
                return ctl::fail(
                    ctx, "option --" + name + " needs a value (usage: sesctl " + cmd->path + " " + cmd->usage + ")", 2);
            }
        } else {
            ctx.args.push_back(a);
        }
    }
    try {
        return cmd->run(ctx);
    } catch (const std::exception& e) {
        return ctl::fail(ctx, e.what());
    }
}
