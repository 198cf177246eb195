#!/usr/bin/env bash
# Counts the instructions of a cached alpaca_auth_client_header_line call
# through the release libalpaca_auth.so with callgrind, beside a bare memcpy
# of the same line, and fails when the call grew by more than 10 % over the
# committed baseline (benches/callgrind-baseline.txt).
#
# Usage: benches/callgrind.sh
# Environment:
#   ALPACA_AUTH_BLESS_CALLGRIND=1  write this run's figure as the new baseline
#                                  (after an intended change of the cached path)
#   CARGO_TARGET_DIR               cargo's target directory (default target);
#                                  the program, the staged library and the
#                                  callgrind output go to its callgrind/
#
# Needs cargo, gcc, make, readelf (to stage the library, as examples-c does)
# and valgrind with callgrind_annotate; without valgrind it prints
# `skipped: valgrind not found` and exits 0. The C program
# (benches/c/callgrind_header_line.c) gets one token from the mock server of
# the alpaca-auth CLI (900-byte JWT-shaped tokens, a 922-byte header line),
# warms up, then makes CALLS cached calls in count_header_line and CALLS
# memcpy calls of the line (NUL included) in count_memcpy; callgrind counts
# only these two functions, callees included (--collect-atstart=no,
# --toggle-collect). Instruction counts do not depend on the machine's load,
# but do on the CPU features glibc's memcpy picks, the compiler and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline_file=benches/callgrind-baseline.txt
bless_command='ALPACA_AUTH_BLESS_CALLGRIND=1 benches/callgrind.sh'
tolerance_pct=10
token_len=900

if ! command -v valgrind >/dev/null; then
    echo "skipped: valgrind not found"
    exit 0
fi
if ! command -v callgrind_annotate >/dev/null; then
    echo "callgrind_annotate not found (it comes with valgrind): install valgrind's tools" >&2
    exit 1
fi

target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
target=$(cd "$target" && pwd)
out=$target/callgrind
mkdir -p "$out"

cargo build --release --lib --bin alpaca-auth >&2

# The library under its SONAME beside the program, as examples-c stages it.
make -s -C examples-c OUT="$out" CARGO_LIBDIR="$target/release" "$out/libalpaca_auth.so" >&2
program=$out/callgrind_header_line
gcc -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror -I include \
    benches/c/callgrind_header_line.c -L "$out" -Wl,-rpath,"$out" -lalpaca_auth -o "$program"

# The mock token server, stopped on exit.
mock_pid=
stop_mock() {
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
    fi
}
trap stop_mock EXIT
rm -f "$out/mock-jwt-key.pem" # the CLI never overwrites a key file
"$target/release/alpaca-auth" mock-server --port 0 --token-len "$token_len" \
    --key-file "$out/mock-jwt-key.pem" >"$out/mock.out" 2>"$out/mock.err" &
mock_pid=$!
token_url=
for _ in $(seq 100); do
    token_url=$(sed -n 's/^token endpoint: //p' "$out/mock.out")
    [ -n "$token_url" ] && break
    kill -0 "$mock_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$token_url" ]; then
    echo "the mock server did not start:" >&2
    cat "$out/mock.out" "$out/mock.err" >&2
    exit 1
fi
# "# client secret:    export APCA_CLIENT_ID=... APCA_CLIENT_SECRET=..."
client_id=$(sed -n 's/^# client secret:.* APCA_CLIENT_ID=\([^ ]*\).*/\1/p' "$out/mock.out")
client_secret=$(sed -n 's/^# client secret:.* APCA_CLIENT_SECRET=\([^ ]*\).*/\1/p' "$out/mock.out")

rm -f "$out"/callgrind.out*
if ! valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect=count_header_line --toggle-collect=count_memcpy \
    --callgrind-out-file="$out/callgrind.out" \
    "$program" "$token_url" "$client_id" "$client_secret" \
    >"$out/program.out" 2>"$out/valgrind.log"; then
    echo "the program failed under callgrind:" >&2
    cat "$out/program.out" "$out/valgrind.log" >&2
    exit 1
fi
stop_mock
mock_pid=

# "calls N line L": the calls per loop and the line's length without its NUL.
read -r _ calls _ line_len <"$out/program.out"

# Inclusive instructions of a counted function, from callgrind_annotate.
callgrind_annotate --inclusive=yes --threshold=100 "$out/callgrind.out" >"$out/annotate.txt"
inclusive() {
    awk -v fn="$1" '
        $0 ~ (":" fn " \\[") { gsub(/,/, "", $1); print $1; found = 1; exit }
        END { if (!found) exit 1 }
    ' "$out/annotate.txt"
}
header_total=$(inclusive count_header_line) || { echo "no count_header_line in $out/annotate.txt" >&2; exit 1; }
memcpy_total=$(inclusive count_memcpy) || { echo "no count_memcpy in $out/annotate.txt" >&2; exit 1; }

x=$(awk -v t="$header_total" -v n="$calls" 'BEGIN { printf "%.1f", t / n }')
y=$(awk -v t="$memcpy_total" -v n="$calls" 'BEGIN { printf "%.1f", t / n }')
ratio=$(awk -v a="$header_total" -v b="$memcpy_total" 'BEGIN { printf "%.2f", a / b }')
valgrind_version=$(valgrind --version)
gcc_version=$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)

echo "callgrind ($valgrind_version, gcc $gcc_version): $calls calls each, ${line_len}-byte header line, release libalpaca_auth.so"
echo "header_line: $x instr/call, memcpy: $y instr/call, ratio $ratio"
echo "breakdown: callgrind_annotate --inclusive=yes ${out#"$PWD"/}/callgrind.out"

if [ "${ALPACA_AUTH_BLESS_CALLGRIND:-}" = 1 ]; then
    cat >"$baseline_file" <<EOF
$x
# Instructions per cached alpaca_auth_client_header_line call through the
# release libalpaca_auth.so (${line_len}-byte header line), as
# benches/callgrind.sh counts them; it fails when a run exceeds this by more
# than ${tolerance_pct} %. Re-bless after an intended change:
#   $bless_command
# Blessed with $valgrind_version and gcc $gcc_version; memcpy of the same
# line: $y instr/call (ratio $ratio).
EOF
    echo "blessed: $baseline_file now holds $x"
    exit 0
fi

if [ ! -f "$baseline_file" ]; then
    echo "no baseline ($baseline_file): create it with $bless_command" >&2
    exit 1
fi
baseline=$(head -n 1 "$baseline_file")
if ! [[ $baseline =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "$baseline_file: the first line is not a number: $baseline" >&2
    exit 1
fi
limit=$(awk -v b="$baseline" -v p="$tolerance_pct" 'BEGIN { printf "%.1f", b * (1 + p / 100) }')
if awk -v x="$x" -v l="$limit" 'BEGIN { exit !(x > l) }'; then
    echo "FAIL: header_line costs $x instr/call, more than ${tolerance_pct} % over the baseline $baseline (limit $limit)" >&2
    echo "If the growth is intended, re-bless: $bless_command" >&2
    exit 1
fi
echo "baseline $baseline instr/call: within ${tolerance_pct} % (limit $limit)"
if awk -v x="$x" -v b="$baseline" -v p="$tolerance_pct" 'BEGIN { exit !(x < b * (1 - p / 100)) }'; then
    echo "note: more than ${tolerance_pct} % below the baseline; re-bless to keep the check tight: $bless_command"
fi
