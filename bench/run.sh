#!/bin/sh
# make bench: the node's training engine against the PyTorch peer on the same machine,
# in one run. Speed (alternating runs, medians, ratio, peak memory), quality at the same
# epoch counts, the same-network check (the peer evaluates our exported weights), the
# machine's sgemm rate, and the speed of top-K recall on one core. Results in bench/out/,
# summary in bench/out/summary.md.
#
# Knobs (environment): FR_BENCH_DATA (ml-latest-small folder), FR_PEER (peer_torch.py),
# FR_BENCH_RUNS (alternating speed runs, 3), FR_BENCH_EPOCHS (epochs per speed run, 5),
# FR_BENCH_QUALITY_EPOCHS (100), FR_BENCH_SEEDS ("1 2 3"), FR_BENCH_SECAGG (1; 0 skips
# the cost of secure aggregation, bench/secagg_bench.c, about 30 s), FR_BENCH_SERVE (1; 0
# skips the recall service under load, bench/serve.sh, about 3.5 minutes, results in
# bench/out/serve.md, and its two scans alone, bench/scan_bench.c, in bench/out/scan.md),
# FR_BENCH_FED (1; 0 skips the last step, the federation's benchmarks in bench/fed.sh,
# results in bench/out/fed/).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
DATA=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
PEER=${FR_PEER:-../shared/bench/peer_torch.py}
RUNS=${FR_BENCH_RUNS:-3}
EPOCHS=${FR_BENCH_EPOCHS:-5}
QEPOCHS=${FR_BENCH_QUALITY_EPOCHS:-100}
SEEDS=${FR_BENCH_SEEDS:-1 2 3}
OUT=bench/out
PY=/usr/bin/python3

if [ ! -f "$DATA/ratings.csv" ]; then
    echo "bench: no data at $DATA (set FR_BENCH_DATA to an ml-latest-small folder)" >&2
    exit 2
fi
if [ ! -f "$PEER" ]; then
    echo "bench: no peer at $PEER (set FR_PEER)" >&2
    exit 2
fi
FR_WITH_PEER=1 deploy/install-deps.sh
mkdir -p "$OUT"
rm -f "$OUT"/*.json

echo "== machine"
{
    grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
    echo "cpus: $(nproc)"
    echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
} | tee "$OUT/machine.txt"

echo "== sgemm rate (GFLOP/s)"
"$BUILD/bench/sgemm_rate" 2 | tee "$OUT/sgemm_2.json"
"$BUILD/bench/sgemm_rate" 1 | tee "$OUT/sgemm_1.json"

echo "== speed: $RUNS alternating runs of $EPOCHS epochs each, 2 threads"
for r in $(seq 1 "$RUNS"); do
    "$NODE" train --data "$DATA" --format movielens-csv --epochs "$EPOCHS" --threads 2 \
        --recipe peer --time-only --metrics-out "$OUT/speed_ours_$r.json" | tail -n 1
    "$PY" "$PEER" --data "$DATA" --format movielens-csv --epochs "$EPOCHS" --threads 2 \
        --time-only --json-out "$OUT/speed_peer_$r.json" | tail -n 1
done

echo "== quality: $QEPOCHS epochs, evaluated every 10, seeds $SEEDS"
for s in $SEEDS; do
    "$NODE" train --data "$DATA" --format movielens-csv --epochs "$QEPOCHS" --eval-every 10 \
        --recipe peer --seed "$s" --model-out "$OUT/model_s$s.frm" \
        --metrics-out "$OUT/quality_ours_s$s.json" | tail -n 3
done

echo "== same network: the peer evaluates our exported model"
s1=$(echo "$SEEDS" | cut -d' ' -f1)
rm -rf "$OUT/npy"
"$NODE" export --model "$OUT/model_s$s1.frm" --npy "$OUT/npy"
"$PY" "$PEER" --data "$DATA" --format movielens-csv --model-in "$OUT/npy" --epochs 0 \
    --seed "$s1" --json-out "$OUT/peer_eval_s$s1.json" | tail -n 2

# The same-network check decides the exit status, so it must not hide behind a pipe.
"$PY" bench/summarize.py "$OUT" "$s1" >"$OUT/summary.md" || same=$?
cat "$OUT/summary.md"
[ "${same:-0}" -eq 0 ] || { echo "bench: the same-network check failed" >&2; exit 1; }

echo "== user-level DP-SGD: epoch time against non-private training, 2 threads"
# the batched step (the default), the per-user path and plain training, alternated
for r in 1 2; do
    rm -rf "$OUT/dp-state"
    "$NODE" train --data "$DATA" --format movielens-csv --epochs 3 --time-only --dp \
        --dp-noise 1 --dp-sampling-rate 0.1 --state-dir "$OUT/dp-state" \
        --metrics-out "$OUT/dp_ours_$r.json" | tail -n 1
    rm -rf "$OUT/dp-state"
    "$NODE" train --data "$DATA" --format movielens-csv --epochs 3 --time-only --dp \
        --dp-per-user --dp-noise 1 --dp-sampling-rate 0.1 --state-dir "$OUT/dp-state" \
        --metrics-out "$OUT/dpuser_ours_$r.json" | tail -n 1
    "$NODE" train --data "$DATA" --format movielens-csv --epochs 3 --time-only --recipe peer \
        --metrics-out "$OUT/nodp_ours_$r.json" | tail -n 1
done
"$PY" - "$OUT" <<'PYEOF' | tee "$OUT/dp.md"
import glob, json, statistics, sys
med = lambda pat: statistics.median(e["seconds"] for f in glob.glob(sys.argv[1] + pat)
                                    for e in json.load(open(f))["epochs"])
dp, du, plain = med("/dp_ours_*.json"), med("/dpuser_ours_*.json"), med("/nodp_ours_*.json")
print(f"DP epoch (q = 0.1: 10 steps, each user sampled once on average) {dp:.3f} s "
      f"(per-user path {du:.3f} s), non-private epoch {plain:.3f} s: ratio {dp / plain:.2f}x "
      f"(per-user path {du / plain:.2f}x)")
PYEOF

echo "== recall: top-K over 100k and 1M random item vectors, d = 64, 1 thread"
"$BUILD/bench/recall_bench" --threads 1 | tee "$OUT/recall.md"
tail -n 1 "$OUT/recall.md" >"$OUT/recall.json"

if [ "${FR_BENCH_SECAGG:-1}" != 0 ]; then
    echo "== secure aggregation: 1M parameters, 3, 10 and 50 nodes, one thread"
    "$BUILD/bench/secagg_bench" | tee "$OUT/secagg.md"
    tail -n 1 "$OUT/secagg.md" >"$OUT/secagg.json"
fi

if [ "${FR_BENCH_SERVE:-1}" != 0 ]; then
    echo "== recall service: wrk against fedrecall-node serve, 100k items, d = 64"
    BUILD="$BUILD" bench/serve.sh
    echo "== the recall service's scans alone: float and int8, 100k items, d = 64, one thread"
    "$BUILD/bench/scan_bench" | tee "$OUT/scan.md"
fi

if [ "${FR_BENCH_FED:-1}" != 0 ]; then
    echo "== federation: quality against central training, bytes, aggregation, round overhead"
    BUILD="$BUILD" FR_BENCH_DATA="$DATA" bench/fed.sh
fi
