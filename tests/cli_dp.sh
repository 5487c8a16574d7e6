#!/bin/sh
# Differential privacy on the command line: the accountant's CLI (bare number on the
# last line, JSON, refusals), DP training with a budget, the refusal of a run over the
# budget, and the ledger surviving kill -9: the spent epsilon is never lower after a
# crash than before it; the federation-wide rounds shown apart. Prints ok/not ok per case and a TESTS tally.
set -u
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
tmp=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
pid=
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok      $1"; }
bad() { failed=$((failed + 1)); echo "not ok  $1"; }
num() { awk -v x="$1" 'BEGIN { exit !(x ~ /^[0-9.e+-]+$/) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

e=$("$NODE" privacy epsilon --sampling-rate 0.01 --noise-multiplier 1.0 --steps 300 \
    --delta 1e-5 | tail -n 1)
num "$e" && ok "privacy epsilon prints a bare number ($e)" || bad "privacy epsilon: '$e'"
s=$("$NODE" privacy sigma --sampling-rate 0.01 --epsilon 2 --steps 300 --delta 1e-5 | tail -n 1)
num "$s" && ok "privacy sigma prints a bare number ($s)" || bad "privacy sigma: '$s'"
"$NODE" privacy epsilon --sampling-rate 0.01 --noise-multiplier 1.0 --steps 300 --json |
    grep -q '"epsilon"' && ok "privacy epsilon --json" || bad "privacy epsilon --json"
for args in "--sampling-rate 0 --noise-multiplier 1 --steps 5" \
    "--sampling-rate 1.5 --noise-multiplier 1 --steps 5" \
    "--sampling-rate 0.1 --noise-multiplier 0 --steps 5" \
    "--sampling-rate 0.1 --noise-multiplier 1 --steps 5 --delta 1"; do
    # shellcheck disable=SC2086
    "$NODE" privacy epsilon $args >/dev/null 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok "refused: $(cat "$tmp/err")" ||
        bad "privacy epsilon $args: exit $rc"
done

"$NODE" synth --users 600 --items 150 --seed 4 --out "$tmp/data" >/dev/null
common="--data $tmp/data --format movielens-csv --dim 16 --filters 16 --seq-len 10 --negatives 16"
# shellcheck disable=SC2086
if "$NODE" train $common --epochs 2 --dp --dp-epsilon-max 4 --dp-sampling-rate 0.1 \
        --state-dir "$tmp/state" --metrics-out "$tmp/m.json" >"$tmp/log" 2>&1 &&
   grep -q '"privacy"' "$tmp/m.json"; then
    ok "DP training within a budget"
else
    bad "DP training"
    cat "$tmp/log"
fi
spent=$("$NODE" privacy status --state-dir "$tmp/state" | tail -n 1)
ge "$spent" 0.5 && ok "privacy status: spent $spent" || bad "privacy status: '$spent'"
# shellcheck disable=SC2086
"$NODE" train $common --epochs 50 --dp --dp-noise 0.5 --dp-sampling-rate 0.1 \
    --state-dir "$tmp/state" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "spent" "$tmp/err" && grep -q "remaining" "$tmp/err"; then
    ok "over budget refused: $(cat "$tmp/err")"
else
    bad "over budget: exit $rc: $(cat "$tmp/err")"
fi
after=$("$NODE" privacy status --state-dir "$tmp/state" | tail -n 1)
[ "$after" = "$spent" ] && ok "a refused run spends nothing" || bad "refused run spent: $after"

# kill -9 in the middle of training: nothing spent may be forgotten
# shellcheck disable=SC2086
"$NODE" train $common --epochs 1000 --dp --dp-noise 5 --dp-sampling-rate 0.1 \
    --state-dir "$tmp/crash" --time-only >/dev/null 2>&1 &
pid=$!
i=0
while [ "$i" -lt 100 ]; do
    n=$(grep -c '^steps' "$tmp/crash/privacy-ledger" 2>/dev/null || echo 0)
    [ "$n" -ge 20 ] && break
    sleep 0.1
    i=$((i + 1))
done
before=$("$NODE" privacy status --state-dir "$tmp/crash" | tail -n 1)
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
crashed=$("$NODE" privacy status --state-dir "$tmp/crash" | tail -n 1)
# shellcheck disable=SC2086
"$NODE" train $common --epochs 1 --dp --dp-noise 5 --dp-sampling-rate 0.1 \
    --state-dir "$tmp/crash" --time-only >/dev/null 2>&1
restarted=$("$NODE" privacy status --state-dir "$tmp/crash" | tail -n 1)
if ge "$before" 1e-9 && ge "$crashed" "$before" && ge "$restarted" "$crashed" &&
   ! ge "$crashed" "$restarted"; then
    ok "kill -9: spent $before before, $crashed after the crash, $restarted after a restart"
else
    bad "kill -9: before $before, after crash $crashed, after restart $restarted"
fi

# a ledger with federation-wide rounds (skellam records) beside the node's own steps:
# status shows the federation's epsilon apart, and the total includes it
mkdir -p "$tmp/fdp"
printf 'budget epsilon=8 delta=1e-06\nsteps q=0.1 sigma=2 n=5\nskellam q=0.02 l1=524289000 l2=524289 mu=222651219148 n=30\n' \
    >"$tmp/fdp/privacy-ledger"
st=$("$NODE" privacy status --state-dir "$tmp/fdp")
fed=$(echo "$st" | sed -n 's/^federation-wide: 30 rounds with distributed noise, epsilon \([0-9.e+-]*\) at delta 1e-06$/\1/p')
total=$(echo "$st" | tail -n 1)
if num "$fed" && ge "$fed" 0.01 && ge "$total" "$fed" && ! ge "$fed" "$total"; then
    ok "privacy status: federation-wide epsilon $fed within the total $total"
else
    bad "privacy status with federation-wide rounds: $st"
fi
"$NODE" privacy status --state-dir "$tmp/fdp" --json | grep -q '"federation_rounds": 30' &&
    ok "privacy status --json: federation_rounds" || bad "json: no federation_rounds"

# the recipe from the budget: the same answer twice; a run from the defaults takes its
# rate; with a row selection the ledger holds the selection (one step at q 1) before
# the steps, and selection and steps together stay within the budget
r1=$("$NODE" privacy recipe --epsilon 3 --users 19412 --epochs 5 --json)
r2=$("$NODE" privacy recipe --epsilon 3 --users 19412 --epochs 5 --json)
q=$("$NODE" privacy recipe --epsilon 2 --users 600 --epochs 4 | tail -n 1)
if [ "$r1" = "$r2" ] && echo "$r1" | grep -q '"sampling_rate"' && num "$q"; then
    ok "privacy recipe: one answer for one budget ($q for 600 users)"
else
    bad "privacy recipe: '$r1' / '$r2' / '$q'"
fi
# shellcheck disable=SC2086
if "$NODE" train $common --epochs 4 --dp --dp-epsilon-max 2 --dp-rows-share 0.1 --dp-rows-z 0 \
        --state-dir "$tmp/rows" --metrics-out "$tmp/rows.json" >"$tmp/rows.log" 2>&1 &&
   grep -q "q=$q " "$tmp/rows.log" && grep -q "item rows trained" "$tmp/rows.log"; then
    ok "train --dp from the defaults: the recipe's q=$q, $(grep -o '[0-9]* of [0-9]* item rows trained' "$tmp/rows.log")"
else
    bad "train --dp with a row selection"
    cat "$tmp/rows.log"
fi
spent=$("$NODE" privacy status --state-dir "$tmp/rows" | tail -n 1)
first=$(grep -m 1 '^steps' "$tmp/rows/privacy-ledger")
if echo "$first" | grep -q '^steps q=1 ' && ge 2 "$spent" && ge "$spent" 1.9; then
    ok "the selection is in the ledger first ($first); spent $spent of 2"
else
    bad "selection ledger: first '$first', spent $spent"
fi

echo "TESTS $passed $failed"
[ "$failed" -eq 0 ]
