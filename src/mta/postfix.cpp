// postfix.cpp -- see postfix.hpp.
#include "mta/postfix.hpp"

#include <cstdlib>

#include "mta/process.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"

namespace ses::mta {

int PostfixAdapter::released_count(std::string_view out) {
    constexpr std::string_view kMark = "Released from hold: ";
    size_t at = out.find(kMark);
    if (at == std::string_view::npos) return -1;
    return std::atoi(std::string(out.substr(at + kMark.size(), 12)).c_str());
}

Result<Released> PostfixAdapter::release(std::string_view qid) {
    if (!valid_queue_id(qid)) return internal_error("postfix: bad queue id \"" + std::string(qid) + "\"");
    std::vector<std::string> argv = s_.command_prefix;
    argv.insert(argv.end(), {s_.postsuper, "-c", s_.config_directory, "-H", std::string(qid)});
    auto r = run_process(argv, s_.command_timeout);
    if (!r) return r.error();
    std::string out(str::trim(r->output));
    if (r->timed_out) return internal_error(command_line(argv) + ": timed out");
    if (r->exit_code != 0)
        return internal_error(command_line(argv) + ": exit " + std::to_string(r->exit_code) + ": " + out);
    int n = released_count(out);
    if (n < 0) return internal_error(command_line(argv) + ": unexpected output: " + out);
    if (n == 0) return Released::not_held;

    std::vector<std::string> flush = {s_.postqueue, "-c", s_.config_directory, "-i", std::string(qid)};
    auto f = run_process(flush, s_.command_timeout);
    if (!f || f->exit_code != 0 || f->timed_out)
        log::warn(command_line(flush) + ": " + (f ? std::string(str::trim(f->output)) : f.error().what) +
                  " (released; it leaves at the next queue run)");
    return Released::yes;
}

}  // namespace ses::mta
