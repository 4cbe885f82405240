#!/bin/sh
# Prints one interpreter path per supported CPython minor version (3.9-3.15), first found wins.
# Sources, in order: $PYTHONS (explicit, space separated), python3 on PATH, $(pyenv root)/versions/*,
# then the private root of Debian unstable's interpreters that scripts/get-pythons.sh makes for the tests.
# Unsupported interpreters (3.8 and older, free-threaded builds) are skipped with a note on stderr.
set -u
candidates=""
if [ -n "${PYTHONS:-}" ]; then
    candidates="$PYTHONS"
else
    p=$(command -v python3 2>/dev/null || true)
    [ -n "$p" ] && candidates="$p"
    root=""
    if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root 2>/dev/null || true); fi
    [ -z "$root" ] && root="${PYENV_ROOT:-$HOME/.pyenv}"
    for d in "$root"/versions/*; do
        [ -x "$d/bin/python3" ] && candidates="$candidates $d/bin/python3"
    done
    sid="${FLAMEWATCH_PYTHONS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/flamewatch/pythons}/sid/usr/bin"
    for p in "$sid"/flamewatch-python3.*; do
        [ -x "$p" ] && candidates="$candidates $p"
    done
fi
seen=""
for py in $candidates; do
    info=$("$py" -c 'import sys, sysconfig; print("%d.%d %s %s" % (sys.version_info[0], sys.version_info[1], sys.implementation.name, sysconfig.get_config_var("Py_GIL_DISABLED") or 0))' 2>/dev/null) || continue
    set -- $info
    ver=$1 impl=$2 ft=$3
    case "$ver" in 3.9|3.10|3.11|3.12|3.13|3.14|3.15) ;; *) continue ;; esac
    [ "$impl" = cpython ] || continue
    if [ "$ft" = 1 ]; then
        echo "find-pythons: $py is a free-threaded CPython $ver: not supported, skipped" >&2
        continue
    fi
    case " $seen " in *" $ver "*) continue ;; esac
    # A pyenv shim resolves to the real interpreter so that headers are found.
    real=$("$py" -c 'import sys; print(sys.executable)')
    seen="$seen $ver"
    echo "$real"
done
