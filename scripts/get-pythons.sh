#!/bin/sh
# Fetches CPython interpreters that the machine's Debian release does not ship (3.14, 3.15) from
# Debian's unstable suite into a private root, for the agent's tests only. Nothing is installed
# into the machine: apt-get runs with its own sources list, lists, cache and an empty status file,
# and the packages are unpacked with `dpkg -x`. The newer glibc they need is run through the root's
# own loader by a launcher script in ROOT/usr/bin (so that the interpreter finds its sys.prefix).
#
# Usage: scripts/get-pythons.sh [VERSION ...]     (default: 3.14 3.15)
# Prints nothing when the root is already complete; on failure (no registry) says so in one line
# on stderr and exits 0, so that `make test` goes on with the interpreters it has.
# FLAMEWATCH_PYTHONS_ROOT overrides the cache folder (default ~/.cache/flamewatch/pythons).
set -u
versions="${*:-3.14 3.15}"
base="${FLAMEWATCH_PYTHONS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/flamewatch/pythons}"
root="$base/sid"
apt="$base/apt"
multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
[ -n "$multiarch" ] || { echo "flamewatch: get-pythons: cannot tell this machine's multiarch triplet" >&2; exit 0; }

# The launcher of python$1, (re)written when its text differs (an older script's launcher is
# replaced). LD_LIBRARY_PATH is searched first, as a normal interpreter's loader would: the loader's
# --library-path otherwise hides it (the tests put a broken libcurl there on purpose).
write_launcher() {
    v=$1
    loader=$(ls "$root/usr/lib/$multiarch"/ld-linux*.so.* 2>/dev/null | head -n 1)
    [ -n "$loader" ] || { echo "flamewatch: get-pythons: no loader in $root/usr/lib/$multiarch" >&2; return 1; }
    launcher="$root/usr/bin/flamewatch-python$v"
    text=$(cat <<EOS
#!/bin/sh
# Runs Debian unstable's python$v on this machine through its own root's loader (flamewatch tests).
exec "$loader" --argv0 "\$0" --library-path "\${LD_LIBRARY_PATH:+\$LD_LIBRARY_PATH:}$root/usr/lib/$multiarch" "$root/usr/bin/python$v" "\$@"
EOS
)
    [ -f "$launcher" ] && [ "$(cat "$launcher")" = "$text" ] && return 0
    # Through a temporary file: a test may be starting this launcher right now.
    printf '%s\n' "$text" > "$launcher.tmp.$$" && chmod +x "$launcher.tmp.$$" &&
        mv -f "$launcher.tmp.$$" "$launcher"
}

# The standard library's bytecode, which Debian's postinst (py3compile) would have written and
# `dpkg -x` does not: without it every test run compiles logging, json, re... from source again
# (0.3 s of CPU under PYTHONDONTWRITEBYTECODE=1, which shows in the accuracy tests' profiles).
compile_stdlib() {
    v=$1
    [ -f "$root/usr/lib/python$v/__pycache__/os.cpython-$(echo "$v" | tr -d .).pyc" ] && return 0
    "$root/usr/bin/flamewatch-python$v" -m compileall -q -x 'lib2to3|test/|tests/|idlelib' \
        "$root/usr/lib/python$v" >/dev/null 2>&1 ||
        echo "flamewatch: get-pythons: could not compile python$v's standard library" >&2
}

missing=""
for v in $versions; do
    [ -x "$root/usr/bin/python$v" ] && [ -f "$root/usr/include/python$v/Python.h" ] && write_launcher "$v" &&
        compile_stdlib "$v" || true
    [ -x "$root/usr/bin/flamewatch-python$v" ] && [ -f "$root/usr/include/python$v/Python.h" ] || missing="$missing $v"
done
[ -z "$missing" ] && exit 0

echo "flamewatch: fetching CPython$missing from Debian unstable into $root (tests only)" >&2
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main" \
    > "$apt/sources.list"
: > "$apt/status"
opts="-o Dir::Etc::sourcelist=$apt/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$apt/lists
      -o Dir::Cache=$apt/cache -o Dir::State::status=$apt/status -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
pkgs=""
for v in $missing; do pkgs="$pkgs python$v libpython$v-dev"; done
# shellcheck disable=SC2086
if ! apt-get $opts -qq update >"$apt/log" 2>&1 ||
   ! apt-get $opts -y -qq --download-only --no-install-recommends install $pkgs >>"$apt/log" 2>&1; then
    echo "flamewatch: get-pythons: Debian unstable could not be reached or has no$missing (see $apt/log); testing the interpreters found" >&2
    exit 0
fi
for deb in "$apt"/cache/archives/*.deb; do
    dpkg -x "$deb" "$root" || { echo "flamewatch: get-pythons: cannot unpack $deb" >&2; exit 0; }
done
for v in $missing; do
    write_launcher "$v" || exit 0
    launcher="$root/usr/bin/flamewatch-python$v"
    if "$launcher" -c 'import sys; sys.exit(0 if sys.prefix.endswith("/usr") else 1)'; then
        compile_stdlib "$v"
    else
        echo "flamewatch: get-pythons: python$v in $root does not start" >&2
    fi
done
exit 0
