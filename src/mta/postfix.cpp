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

int PostfixAdapter::requeued_count(std::string_view out) {
    constexpr std::string_view kMark = "Requeued: ";
    size_t at = out.find(kMark);
    if (at == std::string_view::npos) return -1;
    return std::atoi(std::string(out.substr(at + kMark.size(), 12)).c_str());
}

Result<int64_t> PostfixAdapter::queue_lifetime(int64_t now) {
    std::lock_guard<std::mutex> g(mu_);
    if (lifetime_ >= 0 && now - lifetime_read_at_ < 300) return lifetime_;
    std::vector<std::string> argv = {s_.postconf, "-c", s_.config_directory, "-h", "maximal_queue_lifetime"};
    auto r = run_process(argv, s_.command_timeout);
    if (!r) return r.error();
    std::string out(str::trim(r->output));
    if (r->timed_out || r->exit_code != 0) return internal_error(command_line(argv) + ": failed: " + out);
    auto v = parse_postfix_time(out);
    if (!v) return internal_error(command_line(argv) + ": not a time: " + out);
    lifetime_ = *v;
    lifetime_read_at_ = now;
    return *v;
}

Result<Released> PostfixAdapter::release_held(std::string_view qid, int64_t arrival, int64_t now) {
    auto life = queue_lifetime(now);
    if (!life) {
        // Without the lifetime the plain release is the safe default: it
        // is what every message got before.
        log::warn("postfix: " + life.error().what + " (released with postsuper -H)");
        return release(qid);
    }
    if (arrival > 0 && now - arrival >= *life - s_.requeue_margin) return requeue(qid);
    return release(qid);
}

Result<Released> PostfixAdapter::requeue(std::string_view qid) {
    if (!valid_queue_id(qid)) return internal_error("postfix: bad queue id \"" + std::string(qid) + "\"");
    std::vector<std::string> argv = s_.command_prefix;
    argv.insert(argv.end(), {s_.postsuper, "-c", s_.config_directory, "-r", std::string(qid), "hold"});
    auto r = run_process(argv, s_.command_timeout);
    if (!r) return r.error();
    std::string out(str::trim(r->output));
    if (r->timed_out) return internal_error(command_line(argv) + ": timed out");
    if (r->exit_code != 0)
        return internal_error(command_line(argv) + ": exit " + std::to_string(r->exit_code) + ": " + out);
    int n = requeued_count(out);
    if (n < 0) return internal_error(command_line(argv) + ": unexpected output: " + out);
    if (n == 0) return Released::not_held;
    // pickup would find it at its next wake-up anyway (a minute): only logged.
    std::vector<std::string> kick = s_.command_prefix;
    kick.insert(kick.end(), {s_.postkick, "-c", s_.config_directory, "public", "pickup", "W"});
    auto k = run_process(kick, s_.command_timeout);
    if (!k || k->exit_code != 0 || k->timed_out)
        log::warn(command_line(kick) + ": " + (k ? std::string(str::trim(k->output)) : k.error().what) +
                  " (requeued; pickup takes it at its next wake-up)");
    return Released::requeued;
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
