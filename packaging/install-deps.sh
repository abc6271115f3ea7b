#!/bin/sh
# install-deps.sh -- install the Debian packages sesmilter needs, only those
# missing.  Postfix is pre-answered "No configuration": nothing starts, and no
# system main.cf is written, so a private test instance owns the machine.
set -eu
list="$(dirname "$0")/debian-packages.txt"
missing=""
for p in $(grep -v '^#' "$list"); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing:$missing -- run 'make deps' as root" >&2
    exit 1
fi
echo "deps: installing$missing"
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q $missing
