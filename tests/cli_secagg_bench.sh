#!/bin/sh
# The secure-aggregation benchmark at a small size: it runs whole rounds of 3, 10 and
# 50 nodes (and 10 with 3 dropouts) and exits 1 if any round's sum is wrong, so this
# keeps the benchmark working and is one more end-to-end check of the protocol. Only
# the shape of the report is checked here, never a time.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
BENCH="$BUILD/bench/secagg_bench"

"$BENCH" --params 3000 --repeats 1 --big-repeats 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && ok "rounds of 3, 10, 50 and 10 less 3 nodes give the plain sum" ||
    { bad "exit $rc"; cat "$tmp/err"; }
tail -n 1 "$tmp/out" >"$tmp/json"
if python3 - "$tmp/json" <<'PYEOF'; then ok "the JSON line holds the four cases"; else bad "JSON line"; fi
import json, sys
d = json.load(open(sys.argv[1]))
cases = [(c["n"], c["dropped"]) for c in d["cases"]]
assert cases == [(3, 0), (10, 0), (50, 0), (10, 3)], cases
# bytes beyond the update grow with the nodes: adverts, shares and relays are O(n)
extra = [c["extra_bytes"] for c in d["cases"]]
# (with 3 dropped, U3, its signatures and the unmask request are shorter)
assert 0 < extra[0] < extra[1] < extra[2] and 0 < extra[3] < extra[1], extra
assert d["params"] == 3000 and d["mask_gb_s"] > 0
# the consistency check is measured, and is part of what secure aggregation adds
assert 0 < d["n10_check_s"] < d["n10_added_s"]
assert all(c["node_check_s"] > 0 and c["coord_check_s"] > 0 for c in d["cases"])
PYEOF
grep -q '^| fr_secagg_mask_add' "$tmp/out" && grep -q '^| finish (unmask) |' "$tmp/out" &&
    grep -q '^| add U3 signatures (verify) |' "$tmp/out" &&
    ok "the tables are printed" || bad "tables missing"

"$BENCH" --params 0 >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q usage "$tmp/err" && ok "a size of 0 is refused with the usage" ||
    bad "--params 0: exit $rc"
finish
