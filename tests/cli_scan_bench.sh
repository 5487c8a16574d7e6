#!/bin/sh
# The scan benchmark (bench/scan_bench.c) at a small size: it runs the float and the
# int8 scans of the recall server side by side, so this keeps it working and checks
# once more that the int8 scan finds the float scan's lists (recall@100 at least 0.99
# on its vectors). Only the shape of the report is checked here, never a time.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
BENCH="$BUILD/bench/scan_bench"

"$BENCH" --items 3000 --repeats 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && ok "scan_bench ran" || { bad "exit $rc"; cat "$tmp/err"; }
[ "$(grep -c '^| [0-9]* | [0-9.]* ms' "$tmp/out")" -eq 3 ] &&
    ok "a row for batches of 1, 16 and 64 users" || { bad "table"; cat "$tmp/out"; }
r=$(sed -n 's/^int8 scan recall@100 against the float scan: \([0-9.]*\) .*/\1/p' "$tmp/out")
awk -v r="${r:-0}" 'BEGIN { exit !(r >= 0.99) }' && ok "int8 scan recall@100 $r" ||
    bad "int8 scan recall@100 '$r'"

# the portable kernel (a CPU without AVX-512 VNNI) finds the same lists
"$BENCH" --items 3000 --repeats 1 --portable >"$tmp/out" 2>"$tmp/err" &&
    grep -q "int8 kernel: portable C" "$tmp/out" &&
    grep -q "^int8 scan recall@100 against the float scan: 1.0000" "$tmp/out" &&
    ok "the portable kernel: recall@100 1.0000" || { bad "--portable"; cat "$tmp/out"; }

"$BENCH" --items 0 >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q usage "$tmp/err" && ok "0 items are refused with the usage" ||
    bad "--items 0: exit $rc"
finish
