#!/bin/sh
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS on a generated
# seed corpus. Usage: tests/fuzz/run.sh OUTDIR [SECONDS]. Exits non-zero on any crash.
set -eu
out=${1:-build/fuzz}
secs=${2:-20}
CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
    for c in clang clang-14 clang-15 clang-16; do command -v "$c" >/dev/null 2>&1 && CC=$c && break; done
fi
[ -n "$CC" ] || { echo "fuzz: clang not found" >&2; exit 1; }
mkdir -p "$out"
FLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Icommon -Iserver"
LIBSRC="server/fw_multipart.c common/fw_buf.c common/fw_utf8.c common/fw_profile.c common/fw_profile_merge.c common/fw_pprof_decode.c common/fw_pprof_samples.c common/fw_pprof_encode.c common/fw_gzip.c common/fw_gunzip.c common/fw_json.c common/fw_appname.c"
$CC $FLAGS -o "$out/fuzz_pprof" tests/fuzz/fuzz_pprof.c $LIBSRC -lz -ldeflate
$CC $FLAGS -o "$out/fuzz_ingest" tests/fuzz/fuzz_ingest.c server/fw_ingest.c $LIBSRC -lz -ldeflate
python3 tests/fuzz/make_corpus.py "$out/seeds"
status=0
for t in pprof ingest; do
    mkdir -p "$out/corpus_$t"
    echo "fuzz: $t for ${secs}s"
    if ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/crash_$t-" "$out/corpus_$t" "$out/seeds/$t" >"$out/$t.log" 2>&1; then
        tail -6 "$out/$t.log"
    else
        echo "fuzz: $t FAILED"
        grep -E -A3 "ERROR|runtime error|SUMMARY|Test unit written" "$out/$t.log" | head -40
        status=1
    fi
done
[ $status = 0 ] && echo "fuzz: no crashes"
exit $status
