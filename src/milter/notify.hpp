// notify.hpp -- telling systemd (Type=notify) where start-up and stops stand.
//
// A thin wrapper over libsystemd's sd_notify(): READY=1 once the milter
// socket accepts connections and privileges are dropped, STOPPING=1 when a
// stop begins, STATUS= lines for `systemctl status` (a reload request too:
// reloads run asynchronously and Debian 12's systemd has no notify-reload).  Without $NOTIFY_SOCKET (not started by
// systemd) every call does nothing.
//
// Errors: none reported; a notification that cannot be sent is logged at
// debug level and otherwise ignored (systemd then times the start-up out,
// which says more than sesmilter could).  Thread safety: any thread.
#pragma once

#include <string_view>

namespace ses::milter::notify {

void ready(std::string_view status);
void stopping(std::string_view status);
void status(std::string_view status);

}  // namespace ses::milter::notify
