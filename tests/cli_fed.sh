#!/bin/sh
# The federation end to end on loopback with mutual TLS: a coordinator started with
# its six flags alone, three nodes each holding a third of the users of generated
# data, three rounds; the global model must improve and the rounds be recorded.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 n2 n3 || { bad "certificates"; finish; exit 1; }
fed_data 3 --users 600 --items 300 --clusters 6 --seed 11 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
fed_start_coord "$STATE" --min-nodes 3 --rounds 3 --retry 1 --local-epochs 2 --seq-len 20 \
    --batch 32 --negatives 64 --lr 0.01 || { bad "coordinator start"; finish; exit 1; }
ok "coordinator listening on port $PORT"
grep -q "listening on .*, fedavg at server rate 1 extrapolated," "$STATE.log" &&
    ok "no aggregator named, no dp-federation: fedavg at server rate 1, extrapolated" ||
    { bad "the default server optimiser"; grep listening "$STATE.log"; }
fed_run_nodes 3 240
if [ "$all_done" = 1 ]; then ok "three nodes ran the federation to its end"; else
    bad "nodes still running after 240 s"
    tail -n 20 "$tmp"/n*.log "$STATE.log"
fi
# each secure round's step: the mean stretched by its extrapolation, within [1, 2]
steps=$(sed -n 's/.* published: .*, step \([0-9.]*\)x the mean, .*/\1/p' "$STATE.log")
echo "$steps" | awk 'NF { n++; if ($1 < 1 || $1 > 2) bad++ } END { exit !(n == 3 && !bad) }' &&
    ok "every round logged its extrapolated step in [1, 2] ($(echo $steps))" ||
    bad "the rounds' steps: '$steps'"
"$COORD" report --state-dir "$STATE" >"$tmp/report" 2>&1
cat "$tmp/report"
published=$(grep -c ' published ' "$tmp/report")
[ "$published" -eq 3 ] && ok "3 rounds recorded as published" || bad "published rounds: $published"
grep -q '^3 .* published  *3  *3 ' "$tmp/report" && ok "round 3 had all 3 updates" ||
    bad "round 3 updates"
# and under each round its note: the same step as the log's
rsteps=$(sed -n 's/^  *step \([0-9.]*\)x the mean$/\1/p' "$tmp/report")
[ -n "$steps" ] && [ "$(echo $rsteps)" = "$(echo $steps)" ] &&
    ok "the report shows each round's step ($(echo $rsteps))" ||
    bad "the report's steps '$(echo $rsteps)' against the log's '$(echo $steps)'"
# every node reported every version, and the metrics rise from the first to the last
hr1=$(awk '$1 == 1 {print $6}' "$tmp/report")
hr3=$(awk '$1 == 3 {print $6}' "$tmp/report")
if awk -v a="$hr1" -v b="$hr3" 'BEGIN {exit !(b > a + 0.02)}'; then
    ok "global HR@10 improves over rounds ($hr1 -> $hr3)"
else
    bad "global HR@10 did not improve: $hr1 -> $hr3"
fi
# the final model, evaluated on all the data, beats the initial one
r0=$("$NODE" eval --model "$STATE/models/model-000000.frm" --data "$tmp/data" \
    --format movielens-csv --seq-len 20 --model-catalogue 2>&1 | awk '$1 == "test" {print $3}')
r3=$("$NODE" eval --model "$STATE/models/model-000003.frm" --data "$tmp/data" \
    --format movielens-csv --seq-len 20 --model-catalogue 2>&1 | awk '$1 == "test" {print $3}')
if [ -n "$r0" ] && awk -v a="$r0" -v b="$r3" 'BEGIN {exit !(b > a + 0.05)}'; then
    ok "final global model beats the initial one on all data (test HR@10 $r0 -> $r3)"
else
    bad "final model test HR@10 $r0 -> $r3"
fi
# the nodes verified every model they loaded, and the coordinator saw no refusal
# the coordinator's default recipe reached the nodes: popularity negatives from each
# node's own counts, on the federation's schedule
grep -q "recipe tuned: K 64 popularity negatives with logQ (this node's counts), lr 0.01 on the \
federation's warm-up and cosine decay, dropout 0.4, item dropout 0.3" "$tmp/n1.log" &&
    ok "nodes trained the tuned recipe" || bad "no tuned recipe in the node's log"
grep -q "signature verified" "$tmp/n1.log" && ok "node verified model signatures" ||
    bad "no signature verification logged"
if grep -q "refused" "$STATE.log"; then bad "refusals in a clean run:"; grep refused "$STATE.log"
else ok "no refusals in a clean run"; fi
kill "$COORD_PID" 2>/dev/null
fed_wait "$COORD_PID" 10 && ok "coordinator stops on SIGTERM" || bad "coordinator ignored SIGTERM"
finish
