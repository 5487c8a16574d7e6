#!/bin/sh
# Device selection (--device cpu|cuda|auto, config key device) on train, eval, recall
# and run. The same binary runs everywhere: where no CUDA device is usable (or the
# backend is not built), auto says so in one line on stderr and trains on the CPU, and
# cuda fails with that reason; on a GPU machine both run on the device.
set -u
. "$(dirname "$0")/cli_lib.sh"

"$NODE" synth --users 120 --items 80 --clusters 4 --seed 5 --out "$tmp/data" >/dev/null 2>&1 \
    && ok "synth" || bad "synth"
small="--format movielens-csv --epochs 1 --dim 8 --filters 8 --seq-len 10 --negatives 16 --batch 16"

# shellcheck disable=SC2086
"$NODE" train --data "$tmp/data" $small --device cpu --time-only >/dev/null 2>"$tmp/cpu.err" \
    && [ ! -s "$tmp/cpu.err" ] && ok "train --device cpu" || bad "train --device cpu"

# shellcheck disable=SC2086
if "$NODE" train --data "$tmp/data" $small --device cuda --model-out "$tmp/g.frm" \
        >"$tmp/cuda.out" 2>"$tmp/cuda.err"; then
    gpu=1
    ok "train --device cuda (a CUDA device is usable here)"
else
    rc=$?
    gpu=0
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/cuda.err")" -eq 1 ] &&
       grep -Eq "device cuda: (no CUDA device: .+|the CUDA backend is not built)" "$tmp/cuda.err"; then
        ok "train --device cuda without a device: $(cat "$tmp/cuda.err")"
    else
        bad "train --device cuda without a device: exit $rc"
        cat "$tmp/cuda.err"
    fi
fi

# shellcheck disable=SC2086
if "$NODE" train --data "$tmp/data" $small --device auto --model-out "$tmp/a.frm" \
        >"$tmp/auto.out" 2>"$tmp/auto.err" && grep -q "^epoch   1" "$tmp/auto.out" &&
   [ -f "$tmp/a.frm" ]; then
    if [ "$gpu" = 1 ]; then
        [ ! -s "$tmp/auto.err" ] && ok "train --device auto on the GPU" || bad "auto: stderr"
    elif [ "$(wc -l <"$tmp/auto.err")" -eq 1 ] &&
         grep -q "^device auto: .*; running on the CPU$" "$tmp/auto.err"; then
        ok "train --device auto falls back: $(cat "$tmp/auto.err")"
    else
        bad "train --device auto: fallback line"
        cat "$tmp/auto.err"
    fi
else
    bad "train --device auto"
    cat "$tmp/auto.out" "$tmp/auto.err"
fi

"$NODE" eval --model "$tmp/a.frm" --data "$tmp/data" --format movielens-csv --seq-len 10 \
    --device auto >"$tmp/eval.out" 2>/dev/null && grep -q "^valid" "$tmp/eval.out" \
    && ok "eval --device auto" || bad "eval --device auto"
"$NODE" recall --model "$tmp/a.frm" --data "$tmp/data" --format movielens-csv --seq-len 10 \
    --user "$(awk -F, 'NR == 2 { print $1 }' "$tmp/data/ratings.csv")" -k 5 --device auto \
    >"$tmp/recall.out" 2>/dev/null && [ -s "$tmp/recall.out" ] \
    && ok "recall --device auto" || bad "recall --device auto"

expect_usage "train --device tpu" train --data "$tmp/data" --format movielens-csv --device tpu
expect_usage "eval --device tpu" eval --model "$tmp/a.frm" --data "$tmp/data" \
    --format movielens-csv --device tpu
expect_usage "recall --device tpu" recall --model "$tmp/a.frm" --data "$tmp/data" \
    --format movielens-csv --user 1 --device tpu
# run reads the key from its configuration file like every other option
printf 'device = tpu\n' >"$tmp/node.conf"
expect_usage "run: config key device" run --config "$tmp/node.conf" --cert x --key x --ca x \
    --coordinator-key x --data "$tmp/data" --format movielens-csv --state-dir "$tmp/state"
# the limits' benchmark (docs/benchmarks.md) through the CPU backend, small sizes
"$BUILD/bench/device_rate" --device cpu --size 128 --mib 8 >"$tmp/rate.json" 2>&1 &&
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1]));
assert r["device"] == "cpu" and r["sgemm_gflops"] > 0 and r["axpy_gbs"] > 0' "$tmp/rate.json" \
    && ok "device_rate --device cpu: $(cat "$tmp/rate.json")" || { bad "device_rate"; cat "$tmp/rate.json"; }
finish
