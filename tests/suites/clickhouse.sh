#!/bin/sh
# ClickHouse suites (issue 12, tests/clickhouse/run.py): the launcher, SQLite/ClickHouse
# conformance, a two-shard cluster, faults. ClickHouse is installed from Debian here, as
# scripts/ensure-deps.sh installs the other packages; a machine that cannot install it gets one
# clear line (with the zero count scripts/run-tests.py reads) and no failure.
cd "$(dirname "$0")/../.." || exit 1
# FLAMEWATCH_CLICKHOUSE_PKGS replaces the package list (to check the "cannot install" line by hand).
pkgs="${FLAMEWATCH_CLICKHOUSE_PKGS:-clickhouse-server clickhouse-client}"
missing() {
    m=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || m="$m $p"
    done
    echo "$m"
}
want=$(missing)
if [ -n "$want" ]; then
    if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; else SUDO=; fi
    export DEBIAN_FRONTEND=noninteractive
    # Installing the package must not start its system service (its postinst runs invoke-rc.d): the
    # tests start their own servers. Debian's way to say so is a policy-rc.d answering 101 ("action
    # forbidden"); one is put in place for the install when the machine has none, then removed, and
    # the unit the package enables for the next boot is disabled again.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ] && printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null 2>&1; then
        policy=/usr/sbin/policy-rc.d
        $SUDO chmod 755 "$policy"
    fi
    # shellcheck disable=SC2086
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $want; } >/dev/null 2>&1
    [ -n "$policy" ] && $SUDO rm -f "$policy"
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now clickhouse-server >/dev/null 2>&1
    fi
    if [ -n "$(missing)" ]; then
        echo "clickhouse: apt-get could not install$(missing); ClickHouse suites not run. RESULT passed=0 failed=0"
        exit 0
    fi
fi
exec python3 tests/clickhouse/run.py --build "${FLAMEWATCH_TEST_BUILD:-build}"
