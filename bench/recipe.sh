#!/bin/sh
# The training recipes' table of docs/benchmarks.md: test metrics of the "tuned" recipe
# (the default of train) against the "peer" one (the spec's benchmark configuration,
# which the PyTorch peer trains) on ml-latest-small (FR_RECIPE_ML_EPOCHS, 100) and on
# Toys and Games (FR_RECIPE_TOYS_EPOCHS, 50), seeds FR_BENCH_SEEDS ("1 2 3"), the two
# recipes alternating; then each recipe's epoch time, FR_BENCH_RUNS (3) alternated
# runs of 5 epochs per data set. Mean and standard deviation over the seeds, medians
# of the epoch times. Output: bench/out/recipe/summary.md. Knobs: FR_BENCH_DATA (the
# ml-latest-small folder), FR_TOYS_DATA (the toys-games.txt file), FR_RECIPE_ARGS
# (options added to the tuned runs, for trying a change), FR_RECIPE_PARTS ("quality
# time": either alone runs that part; the summary reads what bench/out/recipe holds).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
ML=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
TOYS=${FR_TOYS_DATA:-../shared/data/toys-games/toys-games.txt}
SEEDS=${FR_BENCH_SEEDS:-1 2 3}
RUNS=${FR_BENCH_RUNS:-3}
OUT=bench/out/recipe
mkdir -p "$OUT"
EXTRA=${FR_RECIPE_ARGS:-}
PARTS=${FR_RECIPE_PARTS:-quality time}

data_args() {
    case $1 in
    ml) echo "--data $ML --format movielens-csv --epochs ${FR_RECIPE_ML_EPOCHS:-100}" ;;
    toys) echo "--data $TOYS --format sasrec --epochs ${FR_RECIPE_TOYS_EPOCHS:-50}" ;;
    esac
}

for d in ml toys; do
    case " $PARTS " in *" quality "*) ;; *) SEEDS_RUN= ;; esac
    for s in ${SEEDS_RUN-$SEEDS}; do
        for r in peer tuned; do
            extra=
            [ "$r" = tuned ] && extra=$EXTRA
            echo "== $d, recipe $r, seed $s"
            # shellcheck disable=SC2046,SC2086
            "$NODE" train $(data_args $d) --recipe $r $extra --seed "$s" \
                --metrics-out "$OUT/${d}_${r}_s$s.json" | tail -n 3
        done
    done
    case " $PARTS " in *" time "*) n=$RUNS ;; *) n=0 ;; esac
    for i in $(seq 1 "$n"); do
        for r in peer tuned; do
            extra=
            [ "$r" = tuned ] && extra=$EXTRA
            # shellcheck disable=SC2046,SC2086
            "$NODE" train $(data_args $d | sed 's/--epochs [0-9]*/--epochs 5/') --recipe $r \
                $extra --time-only --metrics-out "$OUT/${d}_${r}_time$i.json" | tail -n 1
        done
    done
done
python3 - "$OUT" "$SEEDS" <<'PYEOF' | tee "$OUT/summary.md"
import glob, json, os, statistics, sys
out, seeds = sys.argv[1], sys.argv[2].split()
keys = ["hr@10", "ndcg@10", "recall@10", "recall@50", "ndcg_full@10", "mrr", "coverage@10"]
print("| data | recipe | " + " | ".join(keys) + " | epoch (s) |")
print("|---" * (len(keys) + 3) + "|")
for d in ("ml", "toys"):
    for r in ("peer", "tuned"):
        files = [f"{out}/{d}_{r}_s{s}.json" for s in seeds]
        runs = [json.load(open(f))["test"] for f in files if os.path.exists(f)]
        cells = []
        for k in keys:
            v = [x[k] for x in runs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.4f} ± {sd:.4f}" if v else "-")
        t = [json.load(open(f))["timing"]["epoch_s_median"]
             for f in glob.glob(f"{out}/{d}_{r}_time*.json")]
        cells.append(f"{statistics.median(t):.3f}" if t else "-")
        print(f"| {d} | {r} | " + " | ".join(cells) + " |")
for d in ("ml", "toys"):
    t = {r: sorted(json.load(open(f))["timing"]["epoch_s_median"]
                   for f in glob.glob(f"{out}/{d}_{r}_time*.json")) for r in ("peer", "tuned")}
    if t["peer"] and t["tuned"]:
        print(f"\n{d}: epoch time tuned / peer = {statistics.median(t['tuned']) / statistics.median(t['peer']):.2f}"
              f" (peer runs {t['peer']}, tuned runs {t['tuned']})")
PYEOF
