// notify.cpp -- see notify.hpp.
#include "milter/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

#include "util/log.hpp"

namespace ses::milter::notify {
namespace {

void send(const std::string& state) {
    // unset_environment = 0: a reload later notifies again through the same socket.
    int rc = sd_notify(0, state.c_str());
    if (rc < 0) log::debug("sd_notify: " + std::string(std::strerror(-rc)));
}

}  // namespace

void ready(std::string_view s) { send("READY=1\nSTATUS=" + std::string(s)); }
void stopping(std::string_view s) { send("STOPPING=1\nSTATUS=" + std::string(s)); }
void status(std::string_view s) { send("STATUS=" + std::string(s)); }

}  // namespace ses::milter::notify
