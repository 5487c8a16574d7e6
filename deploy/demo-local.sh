#!/bin/sh
# One node alone on generated data (make demo-local): make behaviour logs with planted
# structure, train the recall model, evaluate it beside a popularity ranking, recall
# for a user, train again under a differential-privacy budget, and export the weights.
# Everything lands in demo-out/.
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
echo "== top-10 recall for user 1000 (model, item-to-item, popular channels mixed)"
"$NODE" recall --model "$OUT/model.frm" --data "$OUT/data" --format movielens-csv \
    --user 1000 -k 10 --strategy mix
echo "== the same training with user-level differential privacy, budget epsilon 8"
rm -rf "$OUT/state"
"$NODE" train --data "$OUT/data" --format movielens-csv --epochs 2 --lr 1e-2 --dp \
    --dp-epsilon-max 8 --dp-sampling-rate 0.05 --state-dir "$OUT/state" \
    --metrics-out "$OUT/metrics-dp.json" | grep -E '^(dp|privacy|    test)'
"$NODE" privacy status --state-dir "$OUT/state"
echo "== exporting weights"
"$NODE" export --model "$OUT/model.frm" --npy "$OUT/weights"
echo "demo done: model $OUT/model.frm, metrics $OUT/metrics.json, weights $OUT/weights/"
