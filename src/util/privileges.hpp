// privileges.hpp -- giving up root for good after start-up.
//
// sesmilter starts as root so that it can read keys kept from other users,
// open the store, bind the milter socket and hand it to the MTA's user; then
// it becomes `[milter] user` (and `group`) before it handles any mail:
//
//   plan()      pure: from the current effective uid and the configured
//               names, what to do (nothing, drop, or refuse with a reason);
//   resolve()   the names to ids (getpwnam_r/getgrnam_r);
//   drop()      initgroups (the user's supplementary groups, e.g. postfix),
//               setgid, setuid, then checks that setuid(0)/setgid(0) fail
//               and that no id is still 0: a drop that can be undone is an
//               error, not a warning;
//   hand_over() chowns a directory and the files directly in it (the LMDB
//               files created by root a moment earlier) to the user.
//
// Errors: values naming the key and the system error; the caller exits.
// Thread safety: drop() changes the credentials of the calling thread only
// when other threads exist (glibc's setuid() changes all threads through a
// signal, but libmilter's are not started yet): call it from the main thread
// before any thread starts serving mail.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "util/result.hpp"

namespace ses::privileges {

struct Identity {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
};

enum class Action {
    keep,   // no user configured, or already running as that user
    drop,   // root now, become the user
    refuse  // not root and not the user: the configuration cannot be met
};

struct Plan {
    Action action = Action::keep;
    std::string warning;  // "" or why running as root deserves a log line
    std::string error;    // with Action::refuse
};

// euid: the current effective uid.  target: the resolved identity when a
// user is configured, nullopt when `[milter] user` is empty.
Plan plan(uid_t euid, const std::optional<Identity>& target);

// `group` empty: the user's primary group.
Result<Identity> resolve(const std::string& user, const std::string& group);

Status drop(const Identity& who);

Status hand_over(const std::string& dir, const Identity& who);

}  // namespace ses::privileges
