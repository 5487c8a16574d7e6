#!/bin/sh
# The privacy-utility table of docs/privacy.md: test HR@10 / NDCG@10 at epsilon in
# {1, 3, 8, inf} with delta = 1/N^1.1, on synthetic data with many users and on
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
    delta=$(awk -v n="$n" 'BEGIN { printf "%.3g", 1 / n ^ 1.1 }')
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

{
    echo "| data | epsilon | delta | q | sigma | test HR@10 | test NDCG@10 | command |"
    echo "|---|---|---|---|---|---|---|---|"
    row "synthetic-${USERS}" "$OUT/synth" "${FR_PRIV_Q_SYNTH:-0.02}" "$USERS" \
        "${FR_PRIV_EPOCHS_SYNTH:-2}"
    if [ -f "$ML/ratings.csv" ]; then
        row ml-latest-small "$ML" "${FR_PRIV_Q_ML:-0.1}" 610 "${FR_PRIV_EPOCHS_ML:-10}"
    fi
} | tee "$OUT/../privacy.md"
