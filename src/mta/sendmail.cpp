// sendmail.cpp -- see sendmail.hpp.
#include "mta/sendmail.hpp"

#include <cctype>

#include "mta/process.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::mta {

namespace {
std::vector<std::string> with_prefix(const Settings& s, std::initializer_list<std::string> args) {
    std::vector<std::string> argv = s.command_prefix;
    argv.push_back(s.sendmail);
    if (!s.config_directory.empty()) argv.push_back("-C" + s.config_directory + "/sendmail.cf");
    argv.insert(argv.end(), args);
    return argv;
}
}  // namespace

std::vector<std::string> SendmailAdapter::list_command(std::string_view qid) const {
    return with_prefix(s_, {"-bp", "-qQ", "-qI" + std::string(qid)});
}

std::vector<std::string> SendmailAdapter::unquarantine_command(std::string_view qid) const {
    return with_prefix(s_, {"-qQ", "-Q", "-qI" + std::string(qid)});
}

std::vector<std::string> SendmailAdapter::run_command(std::string_view qid) const {
    return with_prefix(s_, {"-qI" + std::string(qid)});
}

int SendmailAdapter::listed(std::string_view out, std::string_view qid) {
    // An entry's line starts with its id, possibly followed by a status
    // mark ("*" being delivered, "X" no data file, "-" ...); the lines of
    // recipients and reasons are indented.
    bool listing = false;
    for (std::string_view line : str::split(out, '\n')) {
        if (line.substr(0, qid.size()) == qid &&
            (line.size() == qid.size() || !std::isalnum(static_cast<unsigned char>(line[qid.size()]))))
            return 1;
        if (line.find(" is empty") != std::string_view::npos ||
            line.find("Total requests:") != std::string_view::npos ||
            line.find("-----Q-ID-----") != std::string_view::npos)
            listing = true;
    }
    return listing ? 0 : -1;
}

Result<Released> SendmailAdapter::release(std::string_view qid) {
    if (!valid_queue_id(qid) || qid.size() < 8)
        return internal_error("sendmail: bad queue id \"" + std::string(qid) + "\"");
    auto list = list_command(qid);
    auto l = run_process(list, s_.command_timeout);
    int held = l && !l->timed_out && l->exit_code == 0 ? listed(l->output, qid) : -1;
    if (held == 0) return Released::not_held;
    if (held < 0)
        log::warn(command_line(list) + ": " + (l ? std::string(str::trim(l->output)) : l.error().what) +
                  " (cannot tell whether it is quarantined; releasing it anyway)");
    auto argv = unquarantine_command(qid);
    auto r = run_process(argv, s_.command_timeout);
    if (!r) return r.error();
    if (r->timed_out) return internal_error(command_line(argv) + ": timed out");
    if (r->exit_code != 0)
        return internal_error(command_line(argv) + ": exit " + std::to_string(r->exit_code) + ": " +
                              std::string(str::trim(r->output)));
    auto run = run_command(qid);
    auto q = run_process(run, s_.command_timeout);
    if (!q || q->exit_code != 0)
        log::warn(command_line(run) + ": " + (q ? std::string(str::trim(q->output)) : q.error().what) +
                  " (unquarantined; it leaves at the next queue run)");
    return Released::yes;
}

}  // namespace ses::mta
