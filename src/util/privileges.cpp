// privileges.cpp -- see privileges.hpp.
#include "util/privileges.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ses::privileges {
namespace {

std::string sys_error(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace

Plan plan(uid_t euid, const std::optional<Identity>& target) {
    Plan p;
    if (!target) {
        if (euid == 0)
            p.warning =
                "running as root: [milter] user is not set, so mail is handled with every privilege; "
                "set user = \"sesmilter\" (docs/operations.md)";
        return p;
    }
    if (target->uid == 0) {
        p.action = Action::refuse;
        p.error = "milter.user: " + target->user + " is root; name an unprivileged user or leave the key out";
        return p;
    }
    if (euid == target->uid) return p;  // started as the user already (systemd User=, su)
    if (euid != 0) {
        p.action = Action::refuse;
        p.error = "milter.user: sesmilter runs as uid " + std::to_string(euid) + ", not root, and cannot become " +
                  target->user + "; start it as root or as " + target->user;
        return p;
    }
    p.action = Action::drop;
    return p;
}

Result<Identity> resolve(const std::string& user, const std::string& group) {
    std::vector<char> buf(16384);
    struct passwd pw, *pwp = nullptr;
    int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pwp);
    if (rc != 0) return internal_error(sys_error("milter.user: looking up " + user, rc));
    if (!pwp) return internal_error("milter.user: no such user: " + user);
    Identity id{user, pw.pw_uid, pw.pw_gid};
    if (!group.empty()) {
        struct group gr, *grp = nullptr;
        rc = getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &grp);
        if (rc != 0) return internal_error(sys_error("milter.group: looking up " + group, rc));
        if (!grp) return internal_error("milter.group: no such group: " + group);
        id.gid = gr.gr_gid;
    }
    return id;
}

Status drop(const Identity& who) {
    // Supplementary groups first (needs root), then the group, the user last
    // (after setuid nothing else may change).
    if (initgroups(who.user.c_str(), who.gid) != 0)
        return internal_error(sys_error("milter.user: initgroups(" + who.user + ")", errno));
    if (setgid(who.gid) != 0)
        return internal_error(sys_error("milter.group: setgid(" + std::to_string(who.gid) + ")", errno));
    if (setuid(who.uid) != 0)
        return internal_error(sys_error("milter.user: setuid(" + std::to_string(who.uid) + ")", errno));
    // For good: neither the real, effective nor saved ids may come back.
    if (setuid(0) == 0 || seteuid(0) == 0)
        return internal_error("milter.user: privileges could be regained after the drop to " + who.user);
    if (who.gid != 0 && (setgid(0) == 0 || setegid(0) == 0))
        return internal_error("milter.group: group 0 could be regained after the drop to " + who.user);
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&gr, &ge, &gs) != 0 || r != who.uid || e != who.uid || s != who.uid ||
        gr != who.gid || ge != who.gid || gs != who.gid)
        return internal_error("milter.user: ids after the drop to " + who.user + " are not the user's");
    return ok_status();
}

Status hand_over(const std::string& dir, const Identity& who) {
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) return internal_error(sys_error("store.path: " + dir, errno));
    Status result = ok_status();
    if (fchown(dfd, who.uid, who.gid) != 0) result = internal_error(sys_error("chown " + dir, errno));
    DIR* d = fdopendir(dfd);
    if (!d) {
        int err = errno;
        close(dfd);
        return internal_error(sys_error("store.path: " + dir, err));
    }
    while (dirent* e = readdir(d)) {
        struct stat st;
        // Only regular files directly inside, never through a symbolic link.
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (st.st_uid == who.uid && st.st_gid == who.gid) continue;
        if (fchownat(dfd, e->d_name, who.uid, who.gid, AT_SYMLINK_NOFOLLOW) != 0 && result)
            result = internal_error(sys_error("chown " + dir + "/" + e->d_name, errno));
    }
    closedir(d);
    return result;
}

}  // namespace ses::privileges
