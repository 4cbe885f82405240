#!/bin/sh
# Installs the Debian packages flamewatch needs, only those that are missing.
# Usage: scripts/ensure-deps.sh build|test|lint
# It runs apt-get non-interactively, and only when a package is really absent,
# so a machine that has everything pays one dpkg query per package.
set -eu
build="gcc make pkg-config zlib1g-dev libdeflate-dev libcmocka-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev"
test_pkgs="openssl golang-go valgrind clang libclang-rt-14-dev sqlite3 chromium gunicorn python3-flask python3-venv python3-setuptools python3-wheel"
lint="clang-tidy cppcheck"
case "${1:-build}" in
    build) want="$build" ;;
    test)  want="$build $test_pkgs" ;;
    lint)  want="$build $lint" ;;
    *) echo "usage: $0 build|test|lint" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "flamewatch: installing missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
