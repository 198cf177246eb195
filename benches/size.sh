#!/usr/bin/env bash
# The size of the stripped release libalpaca_auth.so, default features and
# each optional feature added to them, with the crates each feature adds to
# the library's normal dependencies on this target. Prints a Markdown
# table; benches/report.sh includes it in benches/README.md.
#
# Usage: benches/size.sh [FEATURE...]   (default: every optional feature)
# The default build is target/release (cargo build --release --lib); each
# feature builds in target/size/<feature>, so target/release stays the
# default build (tests/size_budget.rs measures it against the 3 MiB budget).
set -euo pipefail
cd "$(dirname "$0")/.."

features=("$@")
if [ ${#features[@]} -eq 0 ]; then
    # The [features] of Cargo.toml other than default and mock (the test
    # server, on by default).
    mapfile -t features < <(sed -n '/^\[features\]/,/^\[/{s/^\([a-z0-9_-]*\) *=.*/\1/p}' Cargo.toml |
        grep -vx -e default -e mock)
fi
host=$(rustc -vV | sed -n 's/^host: //p')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stripped_size() { # library -> bytes
    strip -o "$tmp/lib.so" "$1" && wc -c <"$tmp/lib.so"
}
crates() { # cargo tree arguments -> sorted "name vX" lines
    cargo tree -e normal --prefix none --target "$host" "$@" 2>/dev/null | sed 's/ (\*)$//; s/ (proc-macro)$//' |
        awk 'NF { print $1 " " $2 }' | sort -u
}
kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }

cargo build --release --lib >&2
base=$(stripped_size target/release/libalpaca_auth.so)
crates >"$tmp/default.txt"
printf '| build | stripped libalpaca_auth.so | change | crates added (this target) |\n'
printf '|---|---|---|---|\n'
printf '| default features | %s bytes (%s) | | %s crates in all |\n' "$base" "$(kib "$base")" "$(wc -l <"$tmp/default.txt")"
for feature in "${features[@]}"; do
    cargo build --release --lib --features "$feature" --target-dir "target/size/$feature" >&2
    size=$(stripped_size "target/size/$feature/release/libalpaca_auth.so")
    crates --features "$feature" >"$tmp/$feature.txt"
    added=$(comm -13 "$tmp/default.txt" "$tmp/$feature.txt" | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
    printf '| + `%s` | %s bytes (%s) | %+d bytes (%+.1f %%) | %s |\n' "$feature" "$size" "$(kib "$size")" \
        $((size - base)) "$(awk -v a="$size" -v b="$base" 'BEGIN { print (a - b) * 100 / b }')" "${added:-none}"
done
