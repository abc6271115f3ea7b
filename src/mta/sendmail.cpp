// sendmail.cpp -- see sendmail.hpp.
#include "mta/sendmail.hpp"

#include "mta/process.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::mta {

namespace {
std::vector<std::string> base(const Settings& s) {
    std::vector<std::string> argv = {s.sendmail};
    if (!s.config_directory.empty()) argv.push_back("-C" + s.config_directory + "/sendmail.cf");
    return argv;
}
}  // namespace

std::vector<std::string> SendmailAdapter::unquarantine_command(std::string_view qid) const {
    std::vector<std::string> argv = s_.command_prefix;
    auto b = base(s_);
    argv.insert(argv.end(), b.begin(), b.end());
    // A -Q without a reason (followed by another option) unquarantines.
    argv.insert(argv.end(), {"-qQ", "-Q", "-qI" + std::string(qid)});
    return argv;
}

std::vector<std::string> SendmailAdapter::run_command(std::string_view qid) const {
    std::vector<std::string> argv = s_.command_prefix;
    auto b = base(s_);
    argv.insert(argv.end(), b.begin(), b.end());
    argv.push_back("-qI" + std::string(qid));
    return argv;
}

Result<Released> SendmailAdapter::release(std::string_view qid) {
    if (!valid_queue_id(qid) || qid.size() < 8)
        return internal_error("sendmail: bad queue id \"" + std::string(qid) + "\"");
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
