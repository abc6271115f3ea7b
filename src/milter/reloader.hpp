// reloader.hpp -- SIGHUP's work: reload configuration, keys and the policy
// script, all or nothing.
//
// request() (from the signal thread) wakes the reload thread, which:
//   1. loads and checks the file (syntax, keys, values);
//   2. loads the policy script into a Lua state of its own;
//   3. builds the new milter::Runtime (keys, signer, identities);
// and only when all three succeed installs the script, then the Runtime and
// the log level.  Any failure logs "reload refused, keeping the running
// configuration: REASON" and changes nothing.  Sessions keep the snapshot
// they took at MAIL FROM, so no connection is dropped.
//
// Errors: logged, never fatal.  Thread safety: request() from any thread;
// start/stop from the main thread (stop() joins).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "services/services.hpp"
#include "util/worker.hpp"

namespace ses::milter {

class Reloader : public services::Service {
public:
    Reloader(std::string config_path, std::weak_ptr<services::Services> services)
        : path_(std::move(config_path)), services_(std::move(services)) {}
    ~Reloader() override { stop(); }
    std::string_view name() const override { return "reloader"; }
    void start() override;
    void stop() override;
    void request();

    // One reload, in the calling thread; true when the new configuration
    // is in effect.
    bool reload_once();

private:
    std::string path_;
    std::weak_ptr<services::Services> services_;
    util::Worker worker_;
};

}  // namespace ses::milter
