#!/bin/sh
# Privacy in the federation: one node with user-level DP-SGD under a budget, one with
# site-level DP (its whole update clipped and noised), each charging its own ledger
# before an update leaves; a node whose budget cannot pay for a round stops cleanly.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 n2 n3 || { bad "certificates"; finish; exit 1; }
fed_data 2 --users 200 --items 80 --clusters 4 --seed 9 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
# two nodes: plain rounds (a secure round needs three members)
fed_start_coord "$STATE" --min-nodes 2 --rounds 2 --retry 1 --local-epochs 1 --seq-len 20 \
    --batch 32 --negatives 32 --lr 0.01 --secure-aggregation off ||
    { bad "coordinator start"; finish; exit 1; }
fed_node_conf n1 part1
cat >>"$tmp/n1.conf" <<CONF
[dp]
dp = on
level = user
epsilon-max = 6
sampling-rate = 0.5
CONF
fed_node_conf n2 part2
cat >>"$tmp/n2.conf" <<CONF
[dp]
dp = yes
level = site
noise = 0.8
clip = 5
CONF
fed_start_node n1; p1=$NODE_PID
fed_start_node n2; p2=$NODE_PID
fed_wait "$p1" 120 && fed_wait "$p2" 120 && ok "both DP nodes finished" ||
    { bad "nodes still running"; tail -n 5 "$tmp"/n*.log; }
"$COORD" report --state-dir "$STATE" >"$tmp/report"
cat "$tmp/report"
[ "$(grep -c ' published ' "$tmp/report")" = 2 ] && ok "2 rounds published" || bad "rounds"
# noise 0.8 C against a replace-one-site sensitivity of 2C: multiplier 0.4 accounted
n=$(grep -c '^steps q=1 sigma=0\.4[0-9]* n=1$' "$tmp/state-n2/privacy-ledger")
[ "$n" = 2 ] && ok "site level: one q=1 step per round in the ledger, at sigma / 2" ||
    { bad "site ledger has $n round steps"; cat "$tmp/state-n2/privacy-ledger"; }
grep -q "site-level DP: delta norm .* clipped to 5" "$tmp/n2.log" &&
    ok "site level clips the update" || bad "no site-level clipping logged"
# the coordinator's tuned recipe: user-level DP-SGD keeps its K and lr alone, site-level
# DP (the whole delta noised) trains all of it
grep -q "recipe tuned: K 32, lr 0.01, dropout 0, item dropout 0" "$tmp/n1.log" &&
    grep -q "recipe tuned: K 32 popularity negatives.* dropout 0.4, item dropout 0.3" \
        "$tmp/n2.log" && ok "DP rounds: the recipe's DP-compatible part" ||
    { bad "recipe under DP"; grep -h "recipe" "$tmp"/n*.log; }
grep -q '^budget epsilon=6 ' "$tmp/state-n1/privacy-ledger" &&
    grep -q '^steps q=0.5 ' "$tmp/state-n1/privacy-ledger" &&
    ok "user level: budget and steps in the ledger" || bad "user ledger"
eps=$("$NODE" privacy status --state-dir "$tmp/state-n1" | tail -n 1)
echo "  $eps"
awk '$1 == 2 {for (i = 8; i <= NF; i++) print $i}' "$tmp/report" | grep -q '^n1=[1-9]' &&
    awk '$1 == 2 {for (i = 8; i <= NF; i++) print $i}' "$tmp/report" | grep -q '^n2=[0-9]' &&
    ok "the coordinator shows each node's epsilon" || bad "epsilon per node missing"

# a budget too small for one more round: the node stops before training, exit 0
STATE="$tmp/coord2"
# one node alone: a secure round needs three members
fed_start_coord "$STATE" --secure-aggregation off --min-nodes 1 --rounds 5 --retry 1 --local-epochs 1 --seq-len 20 \
    --batch 32 --negatives 32 || { bad "coordinator start"; finish; exit 1; }
fed_node_conf n3 part1
cat >>"$tmp/n3.conf" <<CONF
dp = true
dp-epsilon-max = 0.05
dp-noise = 0.5
dp-sampling-rate = 0.5
CONF
fed_start_node n3
if fed_wait "$NODE_PID" 60; then
    wait "$NODE_PID"
    ok "node with a spent budget stops by itself"
else bad "node kept running"; fi
grep -q "stopping: the privacy budget cannot pay for another round" "$tmp/n3.log" &&
    ok "and says why: $(grep 'privacy budget:' "$tmp/n3.log" | head -n 1 | cut -c1-120)" ||
    { bad "no budget message"; cat "$tmp/n3.log"; }
[ ! -s "$tmp/state-n3/privacy-ledger" ] || ! grep -q '^steps' "$tmp/state-n3/privacy-ledger" &&
    ok "nothing was spent" || bad "steps were recorded"
finish
