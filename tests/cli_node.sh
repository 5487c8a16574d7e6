#!/bin/sh
# Command-line behaviour of fedrecall-node: a small end-to-end run (synth -> train ->
# eval -> export) and bad input, each of which must end with one line on stderr and
# exit code 2, never a crash. Prints "ok"/"not ok" per case and a TESTS tally.
set -u
. "$(dirname "$0")/cli_lib.sh"

"$NODE" synth --users 200 --items 120 --clusters 4 --seed 3 --out "$tmp/data" >/dev/null 2>&1 \
    && ok "synth" || bad "synth"
if "$NODE" train --data "$tmp/data" --format movielens-csv --epochs 2 --dim 16 --filters 16 \
        --seq-len 20 --negatives 32 --batch 32 --model-out "$tmp/m.frm" \
        --metrics-out "$tmp/m.json" >"$tmp/train.log" 2>&1 \
   && grep -q '"ndcg_full@10"' "$tmp/m.json" && grep -q '"rows_skipped"' "$tmp/m.json" \
   && grep -q '"sequences_per_s"' "$tmp/m.json"; then
    ok "train writes a model and metrics JSON"
else
    bad "train"
    cat "$tmp/train.log"
fi
"$NODE" eval --model "$tmp/m.frm" --data "$tmp/data" --format movielens-csv --seq-len 20 \
    --metrics-out "$tmp/e.json" >/dev/null 2>&1 && grep -q '"popularity"' "$tmp/e.json" \
    && ok "eval" || bad "eval"
"$NODE" export --model "$tmp/m.frm" --npy "$tmp/npy" >/dev/null 2>&1 \
    && [ -f "$tmp/npy/gru_W_ih.npy" ] && [ -f "$tmp/npy/item_ids.npy" ] \
    && ok "export" || bad "export"
"$NODE" train --help | grep -q -- "--negatives" && ok "train --help" || bad "train --help"
"$NODE" eval --help | grep -q -- "--event-filter" && ok "eval --help" || bad "eval --help"

# events-csv with string ids: the ids travel in the model file to eval and export.
mkdir -p "$tmp/ev"
awk -F, '{ sub(/\r$/, "") } NR == 1 { print "user_id,item_id,timestamp,value"; next }
         { print "user-" $1 ",item-" $2 "," $4 "," $3 }' "$tmp/data/ratings.csv" >"$tmp/ev/events.csv"
awk -F, '{ sub(/\r$/, "") } NR == 1 { print "item_id,tokens"; next } { print "item-" $1 "," $NF }' \
    "$tmp/data/movies.csv" >"$tmp/ev/items.csv"
if "$NODE" train --data "$tmp/ev" --format events-csv --epochs 1 --dim 16 --filters 16 \
        --seq-len 20 --negatives 32 --batch 32 --event-filter 'value>=2' --dedupe \
        --model-out "$tmp/ev.frm" --metrics-out "$tmp/ev.json" >"$tmp/ev.log" 2>&1 \
   && grep -q '"items": "string"' "$tmp/ev.json" && grep -q '"event_filter"' "$tmp/ev.json" \
   && grep -q 'skipped event_filter' "$tmp/ev.log"; then
    ok "train on events-csv with string ids"
else
    bad "train on events-csv"
    cat "$tmp/ev.log"
fi
"$NODE" eval --model "$tmp/ev.frm" --data "$tmp/ev" --format events-csv --seq-len 20 \
    --event-filter 'value>=2' >"$tmp/ev_eval.log" 2>&1 && ok "eval with string ids" \
    || { bad "eval with string ids"; cat "$tmp/ev_eval.log"; }
"$NODE" export --model "$tmp/ev.frm" --npy "$tmp/evnpy" >/dev/null 2>&1 \
    && [ -f "$tmp/evnpy/item_keys.txt" ] && [ ! -f "$tmp/evnpy/item_ids.npy" ] \
    && grep -q '^item-' "$tmp/evnpy/item_keys.txt" && ok "export writes item_keys.txt" \
    || bad "export with string ids"
mkdir -p "$tmp/ev2"
sed 's/,item-\([0-9]*\),/,item-\1x,/' "$tmp/ev/events.csv" >"$tmp/ev2/events.csv"
expect_usage "catalogue differs (keys)" eval --model "$tmp/ev.frm" --data "$tmp/ev2" \
    --format events-csv --event-filter 'value>=2' --dedupe
expect_usage "numeric model on string data" eval --model "$tmp/m.frm" --data "$tmp/ev" \
    --format events-csv
expect_usage "bad event filter" train --data "$tmp/data" --format movielens-csv \
    --event-filter 'genre=x'
expect_usage "timestamp not a number" train --data "$tmp/data" --format movielens-csv \
    --min-timestamp soon
expect_usage "strict on a malformed row" train --data "$tmp/ev" --format movielens-csv

expect_usage "missing data folder" train --data "$tmp/nowhere" --format movielens-csv
expect_usage "unknown format" train --data "$tmp/data" --format parquet
expect_usage "dim 0" train --data "$tmp/data" --format movielens-csv --dim 0
expect_usage "seq-len -1" train --data "$tmp/data" --format movielens-csv --seq-len -1
expect_usage "batch 1e12" train --data "$tmp/data" --format movielens-csv --batch 1e12
expect_usage "lr not a number" train --data "$tmp/data" --format movielens-csv --lr fast
expect_usage "unknown option" train --data "$tmp/data" --format movielens-csv --epoch 3
expect_usage "missing --data" train --format movielens-csv
expect_usage "unknown command" fly
size=$(wc -c <"$tmp/m.frm")
head -c $((size / 2)) "$tmp/m.frm" >"$tmp/trunc.frm"
expect_usage "truncated model file" eval --model "$tmp/trunc.frm" --data "$tmp/data" \
    --format movielens-csv
expect_usage "missing model file" export --model "$tmp/none.frm" --npy "$tmp/x"
printf 'garbage' >"$tmp/garbage.frm"
expect_usage "not a model file" export --model "$tmp/garbage.frm" --npy "$tmp/x"

finish
