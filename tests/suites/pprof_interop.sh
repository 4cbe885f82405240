#!/bin/sh
# pprof interop: files flamewatch writes must be read by the reference reader (go tool pprof),
# and by `flamewatch convert`. A small generator, built here against common/*.c, writes a
# known profile (two sample types, non-ASCII names, labels); each check compares what the
# readers print with what we put in. Last line: RESULT passed=N failed=M.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${FLAMEWATCH_TEST_BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
TOOLS="$BUILD/tools"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fw_interop.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# go wants a writable HOME and cache; CI runs as root with no standard input.
export HOME="$WORK/home" GOCACHE="$WORK/gocache"
mkdir -p "$HOME" "$TOOLS"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     | /'; }
finish() { echo "RESULT passed=$passed failed=$failed"; [ "$failed" = 0 ]; exit $?; }

# common/fw_curl.c (libcurl's loader) is left out: the generator makes no request.
set --
for f in "$ROOT"/common/*.c; do
    case "$f" in */fw_curl.c) ;; *) set -- "$@" "$f" ;; esac
done
if cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/common" -o "$TOOLS/make_sample_pprof" \
      "$ROOT/tests/tools/make_sample_pprof.c" "$@" -lz -ldeflate 2>"$WORK/cc.log"; then
    ok "build the generator"
else
    bad "build the generator" "$(cat "$WORK/cc.log")"; finish
fi
GZ="$WORK/sample.pprof.gz"
RAW="$WORK/sample.pprof"
if "$TOOLS/make_sample_pprof" "$GZ" "$RAW" </dev/null; then ok "write the sample profile"; else bad "write the sample profile"; finish; fi

# expect NAME FILE TEXT...: every TEXT must appear in FILE.
expect() {
    name=$1 file=$2
    shift 2
    for want in "$@"; do
        if ! grep -qF -- "$want" "$file"; then
            bad "$name" "missing: $want
$(head -40 "$file")"
            return
        fi
    done
    ok "$name"
}

if ! command -v go >/dev/null 2>&1; then
    bad "go tool pprof available" "go is not installed (scripts/ensure-deps.sh test installs golang-go)"
else
    for f in "$GZ" "$RAW"; do
        kind=$(basename "$f")
        go tool pprof -raw "$f" </dev/null >"$WORK/raw.txt" 2>&1
        expect "go tool pprof -raw reads $kind" "$WORK/raw.txt" \
            "cpu/nanoseconds wall/nanoseconds" \
            "300000000  400000000" "100000000  500000000" "50000000   50000000" \
            "Café.größe shop/café.py:22" "処理.実行 jp.py:7" "Cart.total shop/cart.py:12" \
            "thread_name:[worker-1]" "thread_group:[worker-*]" "app:[shop]" \
            "PeriodType: cpu nanoseconds" "Period: 10000000" "Duration: 15s"
    done
    go tool pprof -top -sample_index=cpu "$GZ" </dev/null >"$WORK/top_cpu.txt" 2>&1
    expect "go tool pprof -top cpu total and functions" "$WORK/top_cpu.txt" \
        "of 450ms total" "300ms" "Café.größe" "処理.実行" "Cart.total" "main"
    go tool pprof -top -sample_index=wall "$GZ" </dev/null >"$WORK/top_wall.txt" 2>&1
    expect "go tool pprof -top wall total" "$WORK/top_wall.txt" "of 950ms total" "500ms"
    go tool pprof -top -sample_index=cpu -tagfocus=thread_group=worker-* "$GZ" </dev/null \
        >"$WORK/top_tag.txt" 2>&1
    expect "go tool pprof filters by our labels" "$WORK/top_tag.txt" "150ms" "処理.実行"
fi

FW="$BUILD/flamewatch"
if [ ! -x "$FW" ]; then
    bad "flamewatch convert" "$FW not built"
else
    "$FW" convert "$GZ" >"$WORK/folded.txt" 2>&1 </dev/null
    cat >"$WORK/folded.want" <<'WANT'
main (app.py:3);Cart.total (shop/cart.py:12);Café.größe (shop/café.py:22) 300000000
main (app.py:3);処理.実行 (jp.py:7) 100000000
main (app.py:3);Cart.total (shop/cart.py:12) 50000000
WANT
    if cmp -s "$WORK/folded.txt" "$WORK/folded.want"; then ok "flamewatch convert folded"
    else bad "flamewatch convert folded" "$(diff "$WORK/folded.want" "$WORK/folded.txt")"; fi
    "$FW" convert --type wall --format json --label thread_group=worker-* "$GZ" "$RAW" \
        >"$WORK/json.txt" 2>&1 </dev/null
    expect "flamewatch convert json, two files, label filter" "$WORK/json.txt" \
        '{"type":"wall","unit":"nanoseconds","total":1100000000,"files":2,' \
        '"name":"処理.実行","file":"jp.py","line":7' '"value":1000000000'
    if command -v python3 >/dev/null 2>&1; then
        if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/json.txt" 2>"$WORK/py.log"
        then ok "convert json parses as JSON"; else bad "convert json parses as JSON" "$(cat "$WORK/py.log")"; fi
    fi
    head -c 200 "$RAW" >"$WORK/cut.pprof"
    "$FW" convert "$WORK/cut.pprof" >/dev/null 2>"$WORK/cut.err" </dev/null
    rc=$?
    if [ "$rc" = 1 ] && grep -q "flamewatch convert: $WORK/cut.pprof: " "$WORK/cut.err"; then
        ok "flamewatch convert rejects a truncated file"
    else
        bad "flamewatch convert rejects a truncated file" "exit $rc: $(cat "$WORK/cut.err")"
    fi
fi
finish
