#!/bin/sh
# sendmail_setup.sh -- Debian's Sendmail unpacked beside Postfix, for the
# end-to-end tests (tests/e2e/test_sendmail.py).
#
#   sh tests/e2e/sendmail_setup.sh [ROOT]      (default: build/sendmail-root)
#
# sendmail-bin conflicts with postfix, so it is never installed: its .debs
# (and m4, libwrap0 and liblockfile1, which it needs) are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into ROOT.  Nothing
# outside ROOT changes.  ROOT/bin/sendmail is the program to run; it sets
# what an unpacked Sendmail lacks:
#   - LD_LIBRARY_PATH for the unpacked libwrap.so.0 (the binary's set-group-id
#     bit is cleared, or ld.so would ignore LD_LIBRARY_PATH);
#   - a fully qualified host name, in a UTS namespace of its own
#     (`unshare --uts`): with an unqualified one ("vm") Sendmail sleeps 60 s
#     at every start ("unable to qualify my own domain name");
#   - with SENDMAIL_TEST_DEVLOG=/dir/log.sock in the environment, a syslog
#     socket: a private mount namespace whose /dev (built in /dir/dev) holds
#     the usual devices and `log` -> that socket, so Sendmail's syslog(3)
#     lines reach a test's receiver on a machine without /dev/log.
# ROOT/bin/m4 is the unpacked m4 (the one on the PATH is used when present).
# The download runs once (ROOT/.ready marks a finished root); the wrapper is
# rewritten at every run.  Needs root (unshare, mount) and access to the
# Debian mirror on the first run only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${1:-$here/../../build/sendmail-root}
mkdir -p "$(dirname "$root")"
root=$(cd "$(dirname "$root")" && pwd)/$(basename "$root")
hostname=${SENDMAIL_TEST_HOSTNAME:-mta.sesmilter.test}
sm=$root/usr/libexec/sendmail/sendmail

if [ ! -f "$root/.ready" ]; then
    pkgs="sendmail-bin sendmail-base sendmail-cf m4 libwrap0 liblockfile1"
    work=$(mktemp -d "${TMPDIR:-/tmp}/sendmail-debs.XXXXXX")
    trap 'rm -rf "$work" "$root.new"' EXIT
    chmod 755 "$work" # apt's _apt user writes there (else a warning, no harm)
    if ! (cd "$work" && apt-get download -q $pkgs >/dev/null 2>&1); then
        apt-get update -qq
        (cd "$work" && apt-get download -q $pkgs)
    fi
    rm -rf "$root.new"
    mkdir -p "$root.new"
    for f in "$work"/*.deb; do dpkg-deb -x "$f" "$root.new"; done
    [ -x "$root.new/usr/libexec/sendmail/sendmail" ] || {
        echo "sendmail_setup: no usr/libexec/sendmail/sendmail in sendmail-bin" >&2
        exit 1
    }
    chmod g-s "$root.new/usr/libexec/sendmail/sendmail"
    rm -rf "$root"
    mv "$root.new" "$root"
    touch "$root/.ready"
    echo "sendmail_setup: Sendmail unpacked into $root"
fi

libs=""
for d in "$root"/usr/lib/*-linux-gnu "$root"/lib/*-linux-gnu; do
    [ -d "$d" ] && libs="$libs${libs:+:}$d"
done
missing=$(LD_LIBRARY_PATH=$libs ldd "$sm" | grep 'not found' || true)
if [ -n "$missing" ]; then
    echo "sendmail_setup: libraries missing for sendmail:" >&2
    echo "$missing" >&2
    exit 1
fi

mkdir -p "$root/bin"
ln -sfn ../usr/bin/m4 "$root/bin/m4"
cat >"$root/bin/sendmail.new" <<WRAPPER
#!/bin/sh
# Sendmail unpacked by tests/e2e/sendmail_setup.sh (see there).
export LD_LIBRARY_PATH="$libs"
host=\${SENDMAIL_TEST_HOSTNAME:-$hostname}
if [ -n "\${SENDMAIL_TEST_DEVLOG:-}" ]; then
    exec unshare --uts --mount /bin/sh -c '
        set -e
        dev=\$(dirname "\$SENDMAIL_TEST_DEVLOG")/dev
        mkdir -p "\$dev"
        for n in null zero full random urandom tty; do
            [ -e "\$dev/\$n" ] || touch "\$dev/\$n"
            mount --bind "/dev/\$n" "\$dev/\$n"
        done
        ln -sfn "\$SENDMAIL_TEST_DEVLOG" "\$dev/log"
        mount --rbind "\$dev" /dev
        hostname "\$0"
        exec "$sm" "\$@"' "\$host" "\$@"
fi
exec unshare --uts /bin/sh -c 'hostname "\$0" && exec "$sm" "\$@"' "\$host" "\$@"
WRAPPER
chmod 755 "$root/bin/sendmail.new"
mv "$root/bin/sendmail.new" "$root/bin/sendmail"
