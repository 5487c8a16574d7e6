#!/bin/sh
# The main job end to end on generated data: make behaviour logs with planted
# structure, train the recall model, evaluate it beside a popularity ranking, and
# export the weights. Everything lands in demo-out/.
set -eu
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
OUT=${FR_DEMO_OUT:-demo-out}
mkdir -p "$OUT"
echo "== generating behaviour data"
"$NODE" synth --users 3000 --items 1200 --clusters 12 --seed 7 --out "$OUT/data"
echo "== training (benchmark configuration, 12 epochs)"
"$NODE" train --data "$OUT/data" --format movielens-csv --epochs 12 --eval-every 4 \
    --model-out "$OUT/model.frm" --metrics-out "$OUT/metrics.json"
echo "== evaluating the saved model"
"$NODE" eval --model "$OUT/model.frm" --data "$OUT/data" --format movielens-csv \
    --metrics-out "$OUT/eval.json"
echo "== exporting weights"
"$NODE" export --model "$OUT/model.frm" --npy "$OUT/weights"
echo "demo done: model $OUT/model.frm, metrics $OUT/metrics.json, weights $OUT/weights/"
