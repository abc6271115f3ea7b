// man_page.cpp -- see man_page.hpp.
#include "ctl/man_page.hpp"

#include "util/roff.hpp"

namespace ses::ctl {

std::string man_page(const std::vector<Command>& commands, const std::string& default_config) {
    std::string o = roff::header("sesctl", 8, "inspect and steer sesmilter", "System Manager's Manual");
    o += ".SH SYNOPSIS\n" + roff::text("sesctl [-c FILE] [--json] [--now TIME] COMMAND [ARGS]") + "\n.br\n" +
         roff::text("sesctl --help | --version | --store-layout | --man") + "\n";
    o += ".SH DESCRIPTION\n" +
         roff::text(
             "sesctl reads sesmilter's configuration file and opens its store (LMDB) beside the running "
             "daemon. Run it as root or as the service user (`[milter] user`, `sesmilter` in the package): the "
             "store belongs to that user. Commands that touch the MTA's queue (release of held mail) run the "
             "MTA's tools, which need root; `[mta] command_prefix` (for example `[\"sudo\", \"-n\"]`) names "
             "how to get it.") +
         "\n";
    o += ".SH OPTIONS\n";
    const char* opts[][2] = {
        {"-c FILE", "configuration file (default DEFAULT); without the file, the defaults"},
        {"--json", "print exactly one JSON document, errors included"},
        {"--now TIME", "pin the clock (RFC 3339), like the SESMILTER_NOW environment variable"},
        {"--help", "list the commands; with a command, its usage"},
        {"--version", "print the version"},
        {"--store-layout", "print the LMDB tables and their layouts (Markdown)"},
        {"--man", "print this page (roff)"},
    };
    for (auto& opt : opts) {
        std::string help = opt[1];
        if (auto at = help.find("DEFAULT"); at != std::string::npos) help.replace(at, 7, default_config);
        o += ".TP\n\\fB" + roff::text(opt[0]) + "\\fR\n" + roff::text(help) + "\n";
    }
    o += ".SH COMMANDS\n";
    for (const auto& c : commands)
        o += ".TP\n\\fB" + roff::text(c.path) + "\\fR " + roff::text(c.usage) + "\n" + roff::text(c.summary) + "\n";
    o += ".SH EXIT STATUS\n" +
         roff::text(
             "0 on success, 1 on failure, 2 on a usage error (an unknown command or option, a missing value). "
             "With --json every error is printed as {\"error\": \"...\"} on stdout.") +
         "\n.SH SEE ALSO\n\\fBsesmilter\\fR(8), \\fBsesmilter.toml\\fR(5)\n";
    return o;
}

}  // namespace ses::ctl
