#!/bin/sh
# debian-control.sh LIST < control.in > control -- fills @BUILD_DEPENDS@ with
# the "# build" section of LIST (packaging/debian-packages.txt), the list
# `make deps` installs from (build-essential is implied by Debian policy).
set -eu
deps=$(awk '/^# /{ in_build = ($0 ~ /^# build/) ; next } in_build && NF && $1 != "build-essential" { printf "%s%s", sep, $1; sep = ",\n " }' "$1")
[ -n "$deps" ] || { echo "debian-control.sh: no '# build' section in $1" >&2; exit 1; }
while IFS= read -r line; do
    case "$line" in
        *@BUILD_DEPENDS@*) printf '%s\n' "$(printf '%s' "$line" | sed "s/@BUILD_DEPENDS@//")$deps" ;;
        *) printf '%s\n' "$line" ;;
    esac
done
