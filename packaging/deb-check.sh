#!/bin/sh
# deb-check.sh DIR -- installs DIR/sesmilter_*.deb on this machine, checks
# the user, the files and the units, runs the packaged daemon as the
# sesmilter user through a private Postfix (tests/e2e/test_package.py),
# runs lintian, then purges the package.  For throwaway machines (CI), as
# root: it changes the system.  Exit 0 only when every check passed.
set -eu
dir=$1
deb=$(ls "$dir"/sesmilter_*.deb | head -n 1)
case "$deb" in /*) ;; *) deb="$(pwd)/$deb" ;; esac
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" = 0 ] || { echo "deb-check: run as root (it installs the package)" >&2; exit 1; }

failures=0
check() {  # check DESCRIPTION COMMAND...
    what=$1; shift
    if "$@"; then echo "deb-check: ok: $what"; else echo "deb-check: FAILED: $what" >&2; failures=$((failures + 1)); fi
}
purge() { apt-get purge -y -q sesmilter >/dev/null 2>&1 || true; }
trap purge EXIT

echo "== lintian $deb"
lintian --fail-on error --tag-display-limit 0 "$deb" | tee "$dir/lintian.txt" || failures=$((failures + 1))

echo "== apt-get install $deb"
apt-get install -y -q "$deb"

check "user sesmilter exists, system user, no login" sh -c \
    'getent passwd sesmilter | grep -q ":/usr/sbin/nologin$" && [ "$(id -u sesmilter)" -lt 1000 ]'
if getent group postfix >/dev/null; then
    check "sesmilter is in group postfix" sh -c 'id -nG sesmilter | tr " " "\n" | grep -qx postfix'
    check "Postfix socket directory" sh -c \
        '[ "$(stat -c %U:%G:%a /var/spool/postfix/sesmilter)" = sesmilter:postfix:750 ]'
fi
for f in /usr/sbin/sesmilter /usr/bin/sesctl /etc/sesmilter/sesmilter.toml \
         /usr/share/man/man8/sesmilter.8.gz /usr/share/man/man8/sesctl.8.gz \
         /usr/share/man/man5/sesmilter.toml.5.gz /usr/share/doc/sesmilter/operations.md \
         /usr/share/doc/sesmilter/examples/sesmilter.toml /usr/share/doc/sesmilter/copyright \
         /lib/systemd/system/sesmilter.service /lib/systemd/system/sesmilter-release.timer; do
    check "file $f" test -e "$f"
done
check "the shipped Lua policy" sh -c 'ls /usr/share/sesmilter/lua/*.lua >/dev/null'
check "conffile /etc/sesmilter/sesmilter.toml" sh -c \
    'dpkg-query -W -f="\${Conffiles}" sesmilter | grep -q "/etc/sesmilter/sesmilter.toml "'
check "config root:sesmilter 0640" sh -c '[ "$(stat -c %U:%G:%a /etc/sesmilter/sesmilter.toml)" = root:sesmilter:640 ]'
check "keys directory sesmilter 0700" sh -c '[ "$(stat -c %U:%a /etc/sesmilter/keys)" = sesmilter:700 ]'
check "store directory sesmilter 0750" sh -c '[ "$(stat -c %U:%a /var/lib/sesmilter)" = sesmilter:750 ]'
for page in man8/sesmilter.8 man8/sesctl.8 man5/sesmilter.toml.5; do
    check "man page $page renders without warnings" sh -c \
        "[ -z \"\$(man --warnings -l /usr/share/man/$page.gz 2>&1 >/dev/null)\" ]"
done
check "packaged config checks" /usr/sbin/sesmilter --check-config -c /etc/sesmilter/sesmilter.toml
check "systemd-analyze verify: no output" sh -c \
    'out=$(systemd-analyze verify /lib/systemd/system/sesmilter.service \
        /lib/systemd/system/sesmilter-release.service /lib/systemd/system/sesmilter-release.timer 2>&1); \
     [ -z "$out" ] || { echo "$out"; exit 1; }'

echo "== the packaged daemon through Postfix"
check "tests/e2e/test_package.py" env SESMILTER_PACKAGE_TEST=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    tests/e2e/test_package.py

echo "== apt-get purge sesmilter"
trap - EXIT
apt-get purge -y -q sesmilter
check "user removed on purge" sh -c '! getent passwd sesmilter >/dev/null'
check "store removed on purge" test ! -e /var/lib/sesmilter
check "configuration removed on purge" test ! -e /etc/sesmilter

[ "$failures" = 0 ] || { echo "deb-check: $failures check(s) failed" >&2; exit 1; }
echo "deb-check: all checks passed"
