// process.hpp -- run an MTA tool (postsuper, postqueue, sendmail) and
// collect what it prints.
//
// The program is started with posix_spawn, never through a shell: argv[0]
// is a path (or a name looked up in PATH) and every argument is passed as
// is.  Standard input is /dev/null; standard output and error are collected
// together (up to 64 KiB).  A program still running after `timeout` seconds
// is killed (SIGKILL) and reported as timed out.
//
// Errors: spawning fails (no such program, no resources).  The program's own
// failure is a value (exit_code != 0), not an error.
// Thread safety: may be called from any thread; descriptors are opened
// close-on-exec so concurrent spawns do not inherit each other's pipes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace ses::mta {

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    bool timed_out = false;
    std::string output;  // stdout and stderr, interleaved
};

Result<ProcessResult> run_process(const std::vector<std::string>& argv, int64_t timeout_seconds);

// "postsuper -c /etc/postfix -H ABC" for log lines.
std::string command_line(const std::vector<std::string>& argv);

}  // namespace ses::mta
