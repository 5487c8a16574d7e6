#!/bin/sh
# The privacy-utility table of docs/privacy.md: test HR@10 / NDCG@10 at epsilon in
# {1, 3, 8, inf} with delta = 1/(10N) (the planner's default), on synthetic data with many users and on
# ml-latest-small. For each epsilon the noise multiplier is the smallest that keeps the
# whole run within it (fedrecall-node privacy sigma), then the node trains with
# user-level DP-SGD and evaluates. Output: bench/out/privacy.md.
#
# Every row trains with learning rate FR_PRIV_LR (1e-2: DP-SGD takes few, noisy steps,
# and the same rate is used for the non-private row). Knobs: FR_PRIV_USERS (50000),
# FR_PRIV_EPOCHS_SYNTH (2), FR_PRIV_EPOCHS_ML (10), FR_PRIV_Q_SYNTH (0.02),
# FR_PRIV_Q_ML (0.1), FR_PRIV_LR, FR_BENCH_DATA (ml-latest-small folder).
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

row() { # name data q users epochs
    name=$1 data=$2 q=$3 n=$4 EPOCHS=$5
    delta=$(awk -v n="$n" 'BEGIN { printf "%.3g", 1 / (10 * n) }')
    steps=$(awk -v q="$q" -v e="$EPOCHS" 'BEGIN { s = int(1 / q + 0.5); if (s < 1) s = 1; print s * e }')
    for eps in 1 3 8 inf; do
        rm -rf "$OUT/state-$name-$eps"
        if [ "$eps" = inf ]; then
            cmd="$NODE train --data $data --format movielens-csv --epochs $EPOCHS --lr $LR --recipe peer --metrics-out $OUT/$name-$eps.json"
            sigma=-
        else
            sigma=$("$NODE" privacy sigma --sampling-rate "$q" --epsilon "$eps" --steps "$steps" \
                --delta "$delta" | tail -n 1)
            cmd="$NODE train --data $data --format movielens-csv --epochs $EPOCHS --lr $LR --dp --dp-sampling-rate $q --dp-noise $sigma --dp-clip 1 --dp-delta $delta --state-dir $OUT/state-$name-$eps --metrics-out $OUT/$name-$eps.json"
        fi
        $cmd >"$OUT/$name-$eps.log" 2>&1
        hr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"]["hr@10"])' "$OUT/$name-$eps.json")
        nd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"]["ndcg@10"])' "$OUT/$name-$eps.json")
        printf '| %s | %s | %s | %s | %s | %.3f | %.3f | `%s` |\n' "$name" "$eps" "$delta" "$q" \
            "$sigma" "$hr" "$nd" "$cmd"
    done
}

[ "${FR_PRIV_FED:-0}" = 1 ] || {
    echo "| data | epsilon | delta | q | sigma | test HR@10 | test NDCG@10 | command |"
    echo "|---|---|---|---|---|---|---|---|"
    row "synthetic-${USERS}" "$OUT/synth" "${FR_PRIV_Q_SYNTH:-0.02}" "$USERS" \
        "${FR_PRIV_EPOCHS_SYNTH:-2}"
    if [ -f "$ML/ratings.csv" ]; then
        row ml-latest-small "$ML" "${FR_PRIV_Q_ML:-0.1}" 610 "${FR_PRIV_EPOCHS_ML:-10}"
    fi
} | tee "$OUT/../privacy.md"

# Federated against central (FR_PRIV_FED=1, instead of the table above): 4 sites with federation-wide user-level DP
# and distributed Skellam noise (train --dp-sites 4, each site's users rounded, clamped
# and noised in the ring, the sites' vectors summed modulo 2^32) against central DP-SGD
# over the same users, at epsilon 8 and 3, delta 1/(10N), seeds FR_PRIV_SEEDS (1 2 3).
# Each planner takes the smallest noise for its own accounting (sampled Gaussian;
# sampled Skellam). Output: bench/out/privacy_fed.md. Knobs: FR_PRIV_FED_DATA (synth
# toys), FR_PRIV_EPS (8 3), FR_BENCH_TOYS (toys-games file), FR_PRIV_FED_OUT (the table).
[ "${FR_PRIV_FED:-0}" = 1 ] || exit 0
TOYS=${FR_BENCH_TOYS:-../shared/data/toys-games/toys-games.txt}
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
                cmd="$NODE train --data $data --format $fmt --epochs $EPOCHS --lr $LR --seed $seed --dp --dp-sampling-rate $q --dp-epsilon-max $eps --dp-clip 1 --dp-delta $delta $extra --state-dir $st --metrics-out $OUT/fed-$name-$eps-$seed-$mode.json"
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
