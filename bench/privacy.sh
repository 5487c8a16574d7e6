#!/bin/sh
# The privacy-utility table of docs/privacy.md: test metrics at epsilon 1, 3 and 8
# (delta 1/(10N), the planner's default) from the defaults of `train --dp` (the recipe
# from the budget picks q, steps, noise, clip and lr), beside the non-private model for
# the same epochs (the default recipe, and the private runs' optimiser without privacy)
# and the popularity ranking, mean ± standard deviation over the seeds, on synthetic
# data with many users, ml-latest-small and toys-games. Output: bench/out/privacy.md.
# Knobs: FR_PRIV_SEEDS (1 2 3), FR_PRIV_USERS (50000), FR_PRIV_EPOCHS_SYNTH (2),
# FR_PRIV_EPOCHS_ML (10), FR_PRIV_EPOCHS_TOYS (5), FR_BENCH_DATA (ml-latest-small
# folder), FR_BENCH_TOYS (toys-games file), FR_PRIV_LR (the federated comparison's rate).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
OUT=bench/out/privacy
USERS=${FR_PRIV_USERS:-50000}
LR=${FR_PRIV_LR:-1e-2}
ML=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
mkdir -p "$OUT"
[ -f "$OUT/synth/ratings.csv" ] ||
    "$NODE" synth --users "$USERS" --items 2000 --clusters 40 --seed 11 --out "$OUT/synth" >/dev/null

TOYS=${FR_BENCH_TOYS:-../shared/data/toys-games/toys-games.txt}
SEEDS=${FR_PRIV_SEEDS:-1 2 3}

# One data set's rows: epsilon 1, 3 and 8 from the defaults (train --dp with a budget:
# the recipe from the budget picks q, steps, noise, clip and lr), then the non-private
# model for the same epochs twice: the default recipe (train) and the private runs'
# optimiser without privacy (--recipe dp). Each run's metrics JSON carries the
# popularity ranking's figures on the same split.
table_rows() { # name data format epochs users
    name=$1 data=$2 fmt=$3 EPOCHS=$4 n=$5
    delta=$(awk -v n="$n" 'BEGIN { printf "%.3g", 1 / (10 * n) }')
    for eps in 1 3 8 inf-default inf-dp; do
        for seed in $SEEDS; do
            st="$OUT/state-$name-$eps-$seed"
            rm -rf "$st"
            case $eps in
            inf-default) cmd="$NODE train --data $data --format $fmt --epochs $EPOCHS --seed $seed" ;;
            inf-dp) cmd="$NODE train --data $data --format $fmt --epochs $EPOCHS --seed $seed --recipe dp" ;;
            *) cmd="$NODE train --data $data --format $fmt --epochs $EPOCHS --seed $seed --dp --dp-epsilon-max $eps --dp-delta $delta --state-dir $st" ;;
            esac
            $cmd --metrics-out "$OUT/$name-$eps-$seed.json" >"$OUT/$name-$eps-$seed.log" 2>&1 ||
                echo "failed: $cmd" >&2
        done
        python3 - "$OUT" "$name" "$eps" "$delta" "$EPOCHS" "$cmd" $SEEDS <<'PY'
import json, os, statistics, sys
out, name, eps, delta, epochs, cmd = sys.argv[1:7]
ms = [json.load(open(os.path.join(out, "%s-%s-%s.json" % (name, eps, s)))) for s in sys.argv[7:]]
def ms_(vals, f):
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return (f + " ± " + f) % (statistics.mean(vals), sd)
t = [m["test"] for m in ms]
pop = ms[0]["popularity"]["test"]
p = ms[0].get("privacy", {})
print("| %s | %s | %s | %s | %s | %s | %s | %s | %.4f / %.4f / %.4f | `%s` |" % (
    name, eps.replace("inf-", "none, "), delta if "privacy" in ms[0] else "-",
    "%g, %s" % (p["sampling_rate"], p.get("noise_multiplier", "-")) if p else "-",
    ms_([x["hr@10"] for x in t], "%.3f"), ms_([x["ndcg_full@10"] for x in t], "%.4f"),
    ms_([x["recall@50"] for x in t], "%.4f"), ms_([x["coverage@10"] for x in t], "%.4f"),
    pop["hr@10"], pop["ndcg_full@10"], pop["coverage@10"], cmd.replace("--seed " + sys.argv[-1], "--seed S")))
PY
    done
}

[ "${FR_PRIV_FED:-0}" = 1 ] || {
    echo "| data | epsilon | delta | q, sigma | test HR@10 | full NDCG@10 | Recall@50 | coverage@10 | popularity HR@10 / full NDCG@10 / coverage@10 | command (seeds $SEEDS) |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    table_rows "synthetic-${USERS}" "$OUT/synth" movielens-csv "${FR_PRIV_EPOCHS_SYNTH:-2}" "$USERS"
    [ -f "$ML/ratings.csv" ] && table_rows ml-latest-small "$ML" movielens-csv "${FR_PRIV_EPOCHS_ML:-10}" 610
    [ -f "$TOYS" ] && table_rows toys-games "$TOYS" sasrec "${FR_PRIV_EPOCHS_TOYS:-5}" \
        "$(awk '{ u[$1] = 1 } END { print length(u) }' "$TOYS")"
} | tee "$OUT/../privacy.md"

# Federated against central (FR_PRIV_FED=1, instead of the table above): 4 sites with federation-wide user-level DP
# and distributed Skellam noise (train --dp-sites 4, each site's users rounded, clamped
# and noised in the ring, the sites' vectors summed modulo 2^32) against central DP-SGD
# over the same users, at epsilon 8 and 3, delta 1/(10N), seeds FR_PRIV_SEEDS (1 2 3).
# Each planner takes the smallest noise for its own accounting (sampled Gaussian;
# sampled Skellam). Output: bench/out/privacy_fed.md. Knobs: FR_PRIV_FED_DATA (synth
# toys), FR_PRIV_EPS (8 3), FR_BENCH_TOYS (toys-games file), FR_PRIV_FED_OUT (the table).
[ "${FR_PRIV_FED:-0}" = 1 ] || exit 0
fed_row() { # name data format q epochs n
    name=$1 data=$2 fmt=$3 q=$4 EPOCHS=$5 n=$6
    delta=$(awk -v n="$n" 'BEGIN { printf "%.3g", 1 / (10 * n) }')
    for eps in ${FR_PRIV_EPS:-8 3}; do
        for seed in ${FR_PRIV_SEEDS:-1 2 3}; do
            for mode in central sites4; do
                st="$OUT/state-fed-$name-$eps-$seed-$mode"
                rm -rf "$st"
                extra=
                [ "$mode" = sites4 ] && extra="--dp-sites 4"
                cmd="$NODE train --data $data --format $fmt --epochs $EPOCHS --lr $LR --negatives 128 --seed $seed --dp --dp-sampling-rate $q --dp-epsilon-max $eps --dp-clip 1 --dp-delta $delta $extra --state-dir $st --metrics-out $OUT/fed-$name-$eps-$seed-$mode.json"
                $cmd >"$OUT/fed-$name-$eps-$seed-$mode.log" 2>&1 || { echo "failed: $cmd" >&2; continue; }
                python3 - "$OUT/fed-$name-$eps-$seed-$mode.json" "$name" "$eps" "$delta" "$q" "$seed" "$mode" "$cmd" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t, p = m["test"], m["privacy"]
print("| %s | %s | %s | %s | %s | %s | %.3g | %.3f | %.3f | %.3f | `%s` |" % (
    sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7],
    p["noise_multiplier"], p["epsilon"], t["hr@10"], t.get("ndcg_full@10", float("nan")),
    sys.argv[8]))
PY
            done
        done
    done
}
{
    echo "| data | epsilon | delta | q | seed | mode | sigma | epsilon spent | test HR@10 | full NDCG@10 | command |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for d in ${FR_PRIV_FED_DATA:-synth toys}; do
        case $d in
        synth) fed_row "synthetic-${USERS}" "$OUT/synth" movielens-csv "${FR_PRIV_Q_SYNTH:-0.02}" \
            "${FR_PRIV_EPOCHS_SYNTH:-2}" "$USERS" ;;
        toys) [ -f "$TOYS" ] && fed_row toys-games "$TOYS" sasrec 0.05 5 \
            "$(awk '{ u[$1] = 1 } END { print length(u) }' "$TOYS")" ;;
        esac
    done
} | tee "${FR_PRIV_FED_OUT:-$OUT/../privacy_fed.md}"
