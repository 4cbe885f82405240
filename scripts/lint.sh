#!/bin/sh
# Static analysis for flamewatch's C code (`make lint`); exits non-zero on any finding.
#   - clang-tidy with the checks in .clang-tidy (warnings are errors), over common/, cli/,
#     agent/, store/, store/sqlite/ and store/clickhouse/. The agent is compiled against the system python3's headers, and the
#     per-version layer (fw_pyversion.c, pyversion/*.c: the Py_BUILD_CORE units) also against
#     its internal/ headers.
#   - cppcheck --enable=warning,performance,portability; suppressions must be written inline
#     (// cppcheck-suppress ID) next to the code they excuse, with a reason.
#   - tools/include_cycles.py: no two modules (a .c and its .h) include each other, directly or
#     through a longer loop, in agent/ common/ cli/ server/ store/; its own tests run first.
# Usage: scripts/lint.sh [FILE.c...]   (default: every C file of common/ cli/ agent/ store/ store/sqlite/ store/clickhouse/)
set -u
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [ -z "$PYINC" ] || [ ! -f "$PYINC/Python.h" ]; then
    echo "lint: cannot find Python.h for $PY (got '$PYINC')" >&2
    exit 2
fi
TIDY=${CLANG_TIDY:-clang-tidy}
for tool in "$TIDY" cppcheck; do
    command -v "$tool" >/dev/null 2>&1 || { echo "lint: $tool is not installed (make lint installs it)" >&2; exit 2; }
done

if [ $# -gt 0 ]; then
    files="$*"
else
    files=$(ls common/*.c cli/*.c agent/*.c agent/pyversion/*.c store/*.c store/sqlite/*.c store/clickhouse/*.c 2>/dev/null)
fi
[ -n "$files" ] || { echo "lint: no C files" >&2; exit 2; }

BASE="-std=c11 -D_GNU_SOURCE -Icommon -Icli -Iagent"
status=0
for f in $files; do
    case "$f" in
        agent/fw_pyversion.c|agent/pyversion/*) extra="-I$PYINC -I$PYINC/internal" ;;
        agent/*) extra="-I$PYINC" ;;
        *) extra="" ;;
    esac
    # shellcheck disable=SC2086
    if ! out=$("$TIDY" --quiet "$f" -- $BASE $extra 2>&1); then
        printf '%s\n' "$out" | grep -v '^[0-9]* warnings\? generated\.$' >&2
        echo "lint: clang-tidy: findings in $f" >&2
        status=1
    elif printf '%s\n' "$out" | grep -q 'warning:\|error:'; then
        printf '%s\n' "$out" >&2
        echo "lint: clang-tidy: findings in $f" >&2
        status=1
    fi
done

# cppcheck explores every #if configuration it can imagine. The per-version layer is the one whose
# code depends on PY_VERSION_HEX (and it has an #error for versions we do not support), so it is
# checked once per supported version with that macro set; everything else in one run.
# --inline-suppr honours `cppcheck-suppress` comments.
CPPCHECK="cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -q --std=c11 -D_GNU_SOURCE --suppress=missingIncludeSystem -Icommon -Icli -Iagent"
plain=""
versioned=""
for f in $files; do
    case "$f" in
        agent/fw_pyversion.c|agent/pyversion/*) versioned="$versioned $f" ;;
        *) plain="$plain $f" ;;
    esac
done
# shellcheck disable=SC2086
if [ -n "$plain" ] && ! $CPPCHECK $plain; then
    echo "lint: cppcheck: findings" >&2
    status=1
fi
if [ -n "$versioned" ]; then
    for hex in 0x030900F0 0x030A00F0 0x030B00F0 0x030C00F0 0x030D00F0 0x030E00F0 0x030F00F0; do
        # shellcheck disable=SC2086
        if ! $CPPCHECK -DPY_VERSION_HEX=$hex $versioned; then
            echo "lint: cppcheck: findings in $versioned (PY_VERSION_HEX=$hex)" >&2
            status=1
        fi
    done
fi

FW_CYCLE_DIRS="agent common cli server store"
if ! python3 tests/tools/test_include_cycles.py >/dev/null 2>&1; then
    echo "lint: tests/tools/test_include_cycles.py fails: the cycle check itself is broken" >&2
    status=1
fi
# shellcheck disable=SC2086
if ! python3 tools/include_cycles.py $FW_CYCLE_DIRS; then
    echo "lint: include cycles between modules" >&2
    status=1
fi

[ "$status" = 0 ] && echo "lint: clean ($(echo "$files" | wc -w) files)"
exit "$status"
