#!/bin/sh
# bench/ab.sh OLD_BUILD NEW_BUILD: two builds of fedrecall side by side on this machine,
# in alternated runs, with each case's median and the ratio new/old: a training epoch
# (ml-latest-small, 2 threads, seconds per epoch), top-K recall on one core (lists/s,
# bench/recall_bench), the recall service under load (int8 scan and events, a short
# bench/serve.sh), and the federation's round overhead (secure aggregation's cost at
# the coordinator and a node, bench/secagg_bench). For a change that should not change
# speed (a restructure): every ratio should sit within the runs' spread.
#   FR_AB_RUNS (3) alternated runs; FR_BENCH_DATA as bench/run.sh.
set -eu
cd "$(dirname "$0")/.."
OLD=$1
NEW=$2
RUNS=${FR_AB_RUNS:-3}
DATA=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
OUT=bench/out/ab
mkdir -p "$OUT"
rm -f "$OUT"/*.txt

# one NAME BUILD RUN: every case once for BUILD, figures appended to $OUT/NAME-CASE.txt
one() {
    b=$2
    # the same network in both builds: builds with training recipes train the peer's
    recipe=
    "$b/fedrecall-node" train --help | grep -q -- --recipe && recipe="--recipe peer"
    "$b/fedrecall-node" train --data "$DATA" --format movielens-csv --epochs 5 --threads 2 \
        $recipe --time-only --metrics-out "$OUT/train.json" >/dev/null
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["timing"]["epoch_s_median"])' \
        "$OUT/train.json" >>"$OUT/$1-train_epoch_s.txt"
    "$b/bench/recall_bench" --threads 1 --quick 2>&1 | tail -n 1 >"$OUT/recall.json"
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["single_100k_ms"])' \
        "$OUT/recall.json" >>"$OUT/$1-recall_one_user_100k_ms.txt"
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["batch_gflops"])' \
        "$OUT/recall.json" >>"$OUT/$1-recall_batch_gflops.txt"
    "$b/bench/secagg_bench" --repeats 3 2>&1 | tail -n 1 >"$OUT/secagg.json"
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["n10_added_s"] * 1000)' \
        "$OUT/secagg.json" >>"$OUT/$1-secure_round_added_ms_n10.txt"
    BUILD=$b FR_BENCH_SERVE_SECONDS=5 FR_BENCH_SERVE_REPEATS=1 FR_BENCH_SERVE_CASES="int8 events" \
        bench/serve.sh >"$OUT/serve.out" 2>/dev/null || true
    sed -n 's/^int8 .* (\([0-9]*\) lists\/s).*/\1/p' "$OUT/serve.out" | head -n 1 >>"$OUT/$1-serve_int8_lists_s.txt"
    sed -n 's/^events .* (\([0-9]*\) events\/s).*/\1/p' "$OUT/serve.out" | head -n 1 >>"$OUT/$1-serve_events_s.txt"
}
for r in $(seq 1 "$RUNS"); do
    echo "== run $r of $RUNS"
    one old "$OLD" "$r"
    one new "$NEW" "$r"
done
median() { sort -g "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for f in "$OUT"/new-*.txt; do
    c=${f#"$OUT"/new-}
    c=${c%.txt}
    o=$(median "$OUT/old-$c.txt")
    n=$(median "$f")
    echo "$c: old $o ($(tr '\n' ' ' <"$OUT/old-$c.txt")) new $n ($(tr '\n' ' ' <"$f")) ratio $(awk -v a="$n" -v b="$o" 'BEGIN {printf "%.3f", a / b}')"
done | tee "$OUT/summary.txt"
