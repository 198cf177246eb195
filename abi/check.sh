#!/usr/bin/env bash
# The ABI check: libabigail's abidiff between the committed baseline of
# this ABI, abi/<abi>/libalpaca_auth.abi (<abi> from the SONAME: 0.1 while
# the version is 0.1.x), and a library built with debug information.
#
# Usage:
#   cargo build --profile abi --lib && abi/check.sh     # the release code, with DWARF
#   abi/check.sh LIBRARY                                # any build with DWARF (tests/abi.rs
#                                                       # passes the debug one cargo test built)
#   ALPACA_AUTH_BLESS_ABI=1 abi/check.sh [LIBRARY]      # write the baseline
#
# Passes when nothing changed or functions were only added. Fails, with
# abidiff's report, when a function or variable was removed or changed (its
# parameters, its return type, or a type it reaches: an enum's values, a
# struct's layout), except for what abi/suppressions.ini says is not ABI
# (the opaque handles' insides; fields appended to the structs that carry
# struct_size).
#
# Blessing writes the baseline from LIBRARY. For a new ABI (the SONAME
# changed: a 0.x minor release) it also keeps include/alpaca_auth.h and .hpp
# under abi/<abi>/, the headers the old-program tests compile against.
# Within one ABI it refuses to bless an incompatible change: that needs the
# new SONAME, which build.rs derives from the version in Cargo.toml.
#
# Without abidw/abidiff (Debian: apt-get install abigail-tools) it prints
# "skipped: abidiff not found" and exits 0; .ci/run installs them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
library=${1:-$root/target/abi/libalpaca_auth.so}

for tool in abidw abidiff; do
    if ! command -v "$tool" >/dev/null; then
        echo "skipped: $tool not found (apt-get install abigail-tools)"
        exit 0
    fi
done
if [ ! -f "$library" ]; then
    echo "$library is missing: cargo build --profile abi --lib" >&2
    exit 2
fi
if ! readelf -S "$library" | grep -q '\.debug_info'; then
    echo "$library has no debug information (a stripped release build?): cargo build --profile abi --lib" >&2
    exit 2
fi
soname=$(readelf -d "$library" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
abi=${soname#libalpaca_auth.so.}
if [ -z "$soname" ] || [ "$abi" = "$soname" ]; then
    echo "$library: no SONAME libalpaca_auth.so.<abi>" >&2
    exit 2
fi
dir=$root/abi/$abi
baseline=$dir/libalpaca_auth.abi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Locations and the corpus path change with every edit and checkout: left
# out, so the baseline changes only with the ABI.
abidw --headers-dir "$root/include" --no-show-locs --no-corpus-path \
    --type-id-style hash --out-file "$tmp/new.abi" "$library"

# abidiff's status is a bit set: 1 error, 2 usage, 4 a change, 8 an
# incompatible change. Added functions alone give 4: the summary lines say
# whether anything was removed or changed.
compare() {
    local status=0
    abidiff --suppressions "$root/abi/suppressions.ini" "$baseline" "$tmp/new.abi" \
        >"$tmp/report" || status=$?
    cat "$tmp/report"
    if [ $((status & 3)) -ne 0 ]; then
        echo "abidiff failed (status $status)" >&2
        return 2
    fi
    if [ $((status & 8)) -ne 0 ] ||
        grep -E 'changes summary:' "$tmp/report" | grep -qE '[1-9][0-9]* (Removed|Changed)'; then
        return 1
    fi
    return 0
}

if [ -n "${ALPACA_AUTH_BLESS_ABI:-}" ]; then
    if [ -f "$baseline" ] && ! compare; then
        echo "refused: an incompatible change within ABI $abi; bump the minor version in Cargo.toml (0.x rule) for a new SONAME, then bless" >&2
        exit 1
    fi
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        cp "$root/include/alpaca_auth.h" "$root/include/alpaca_auth.hpp" "$dir/"
        echo "new ABI $abi: kept include/alpaca_auth.h and .hpp in abi/$abi/"
    fi
    cp "$tmp/new.abi" "$baseline"
    echo "blessed abi/$abi/libalpaca_auth.abi from $library"
    exit 0
fi

if [ ! -f "$baseline" ]; then
    echo "no baseline for ABI $abi (SONAME $soname): a new ABI is blessed with" >&2
    echo "  cargo build --profile abi --lib && ALPACA_AUTH_BLESS_ABI=1 abi/check.sh" >&2
    exit 1
fi
if compare; then
    echo "abi $abi: no function or type removed or changed (baseline abi/$abi/libalpaca_auth.abi)"
else
    status=$?
    [ "$status" -eq 2 ] && exit 2
    echo "abi $abi: INCOMPATIBLE with abi/$abi/libalpaca_auth.abi (report above)." >&2
    echo "Keep the old function (a renamed one as an ALPACA_AUTH_DEPRECATED alias), or" >&2
    echo "bump the minor version (a new SONAME) and bless: ALPACA_AUTH_BLESS_ABI=1 abi/check.sh" >&2
    exit 1
fi
