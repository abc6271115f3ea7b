// sesctl.cpp -- the operator's command line.
//
// NAME
//   sesctl - inspect and steer sesmilter
// SUMMARY
//   sesctl [-c FILE] [--json] [--now TIME] COMMAND [ARGS]
//   sesctl --version | --store-layout | --man
// DESCRIPTION
//   Commands come from each area's <area>_commands() list (src/ctl/).  They
//   share the daemon's configuration file and LMDB environment.  --json
//   makes every command print one JSON document.  --now pins the clock
//   (RFC 3339), like the SESMILTER_NOW environment variable.
// DIAGNOSTICS
//   Exit 0 on success, 1 on failure, 2 on a usage error (an unknown command
//   or option, a missing value).  With --json every error, usage errors
//   included, is printed as {"error": "..."} on stdout.  Log lines carry the
//   name "sesctl".

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/paths.hpp"
#include "ctl/command.hpp"
#include "ctl/apikey_cmd.hpp"
#include "ctl/group_cmd.hpp"
#include "ctl/task_cmd.hpp"
#include "ctl/auth_cmd.hpp"
#include "ctl/dkim_cmd.hpp"
#include "ctl/identity_cmd.hpp"
#include "ctl/man_page.hpp"
#include "ctl/mta_cmd.hpp"
#include "ctl/queue_cmd.hpp"
#include "ctl/status_cmd.hpp"
#include "ctl/events_cmd.hpp"
#include "ctl/template_cmd.hpp"
#include "ctl/suppression_cmd.hpp"
#include "ctl/warmup_cmd.hpp"
#include "mail/address.hpp"
#include "store/layout_doc.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"
#include "util/version.hpp"

using namespace ses;

namespace {

constexpr const char* kDefaultConfig = config::kDefaultConfigFile;

std::vector<ctl::Command> all_commands() {
    std::vector<ctl::Command> all;
    for (auto list :
         {ctl::dkim_commands, ctl::identity_commands, ctl::auth_commands, ctl::warmup_commands, ctl::queue_commands,
          ctl::template_commands, ctl::status_commands, ctl::suppression_commands, ctl::events_commands,
          ctl::apikey_commands, ctl::mta_commands, ctl::group_commands, ctl::task_commands}) {
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
         "  --now TIME  pin the clock (RFC 3339), like SESMILTER_NOW\n"
         "  --version   print the version\n"
         "  --store-layout  print the LMDB tables and their layouts (Markdown)\n"
         "  --man       print the sesctl(8) man page (roff)\n\n"
         "commands:\n";
    for (auto& c : cmds) o << "  " << c.path << " " << c.usage << "\n      " << c.summary << "\n";
}

void help_json(std::ostream& o, const std::vector<ctl::Command>& cmds) {
    nlohmann::json j = nlohmann::json::array();
    for (auto& c : cmds) j.push_back({{"command", c.path}, {"usage", c.usage}, {"summary", c.summary}});
    o << nlohmann::json{{"commands", j}}.dump(2) << "\n";
}

// A usage error honours --json like every other error: one JSON document on
// stdout, so scripts that parse the output see why instead of nothing.
int usage_error(bool json, const std::string& message) {
    if (json)
        std::cout << nlohmann::json{{"error", message}}.dump() << "\n";
    else
        std::cerr << "sesctl: " << message << "\n";
    return 2;
}

// The options a command takes are the --words of its usage line, so the help
// text and the parser cannot disagree.
std::set<std::string> declared_options(const ctl::Command& c) {
    std::set<std::string> out;
    for (auto& word : str::split(c.usage, ' ')) {
        std::string_view w = word;
        while (!w.empty() && (w.front() == '[' || w.front() == '(')) w.remove_prefix(1);
        if (w.size() < 3 || w.substr(0, 2) != "--") continue;
        w.remove_prefix(2);
        size_t n = 0;
        while (n < w.size() && (std::isalnum(static_cast<unsigned char>(w[n])) || w[n] == '-')) ++n;
        if (n > 0) out.emplace(w.substr(0, n));
    }
    for (auto& f : c.flags) out.insert(f);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string cfg_path = kDefaultConfig;
    bool cfg_given = false, json = false, want_help = false, want_version = false;
    std::vector<std::string> rest;
    for (const auto& a : args) json = json || a == "--json";
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-c" || a == "--config" || a == "--now") {
            if (i + 1 >= args.size()) return usage_error(json, a + " needs a value");
            if (a == "--now") {
                auto t = clock::parse_rfc3339(args[++i]);
                if (!t) return usage_error(json, "--now: not an RFC 3339 time: " + args[i]);
                clock::set_override(*t);
            } else {
                cfg_path = args[++i];
                cfg_given = true;
            }
        } else if (a == "--json") {
        } else if (a == "-V" || a == "--version") {
            want_version = true;
        } else if (a == "--store-layout") {
            // docs/store-layout.md, written by `make docs` from the table list.
            std::cout << store::layout_markdown();
            return 0;
        } else if (a == "--man") {
            // man/sesctl.8, written by `make docs` from the command table.
            std::cout << ctl::man_page(all_commands(), kDefaultConfig);
            return 0;
        } else if (a == "-h" || a == "--help" || a == "help") {
            want_help = true;
        } else {
            rest.push_back(a);
        }
    }
    if (want_version) {
        if (json)
            std::cout << nlohmann::json{{"version", std::string(kVersion)}}.dump() << "\n";
        else
            std::cout << "sesctl " << kVersion << "\n";
        return 0;
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
    if (want_help) {
        if (cmd) {
            if (json)
                std::cout
                    << nlohmann::json{{"command", cmd->path}, {"usage", cmd->usage}, {"summary", cmd->summary}}.dump(2)
                    << "\n";
            else
                std::cout << "usage: sesctl " << cmd->path << " " << cmd->usage << "\n  " << cmd->summary << "\n";
            return 0;
        }
        json ? help_json(std::cout, cmds) : help(std::cout, cmds);
        return 0;
    }
    if (rest.empty()) {
        if (!json) help(std::cerr, cmds);
        return usage_error(json, "no command given (sesctl --help lists them)");
    }
    if (!cmd) return usage_error(json, "unknown command: " + rest[0] + " (sesctl --help lists them)");

    // Collect options before anything is opened: a usage error must not
    // depend on the configuration or the store.
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;
    std::map<std::string, bool> flags;
    const auto known = declared_options(*cmd);
    const std::string usage = "usage: sesctl " + cmd->path + " " + cmd->usage;
    for (size_t i = words; i < rest.size(); ++i) {
        const std::string& a = rest[i];
        if (a.rfind("--", 0) != 0 || a.size() == 2) {
            positional.push_back(a);
            continue;
        }
        std::string name = a.substr(2);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        if (!known.count(name)) return usage_error(json, "unknown option --" + name + " (" + usage + ")");
        bool is_flag = std::find(cmd->flags.begin(), cmd->flags.end(), name) != cmd->flags.end();
        if (is_flag) {
            if (value) return usage_error(json, "option --" + name + " takes no value (" + usage + ")");
            flags[name] = true;
        } else if (value || i + 1 < rest.size()) {
            // A repeated option (`apikey create --identity A --identity B`)
            // keeps every value, one per line.
            std::string v = value ? *value : rest[++i];
            auto [it, fresh] = options.try_emplace(name, v);
            if (!fresh) it->second += "\n" + v;
        } else {
            return usage_error(json, "option --" + name + " needs a value (" + usage + ")");
        }
    }

    mail::init();
    struct stat st;
    Result<config::Config> cfg = (cfg_given || stat(cfg_path.c_str(), &st) == 0)
                                     ? config::load_file(cfg_path)
                                     : config::load_string("", "<defaults>");
    if (!cfg) {
        if (json)
            std::cout << nlohmann::json{{"error", cfg.error().what}}.dump() << "\n";
        else
            std::cerr << cfg.error().what << "\n";
        return 1;
    }
    log::Level level = log::Level::notice;
    log::parse_level(cfg->daemon.log_level, level);
    // sesctl runs beside the daemon: its lines must not pass for the daemon's.
    log::setup("sesctl", log::Target::stderr_, std::max(level, log::Level::notice));

    ctl::Context ctx{*cfg, json, std::move(positional), std::move(options), std::move(flags), std::cout, std::cerr};
    try {
        return cmd->run(ctx);
    } catch (const std::exception& e) {
        return ctl::fail(ctx, e.what());
    }
}
