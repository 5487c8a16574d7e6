#!/bin/sh
# The federation end to end on this machine: a federation CA and certificates, a
# coordinator and three partner nodes on loopback over mutual TLS, each node holding
# a disjoint third of the users, 20 rounds of user-level DP-SGD over the whole
# federation at epsilon 8: each node samples its users, clips their gradients and adds
# only its share of the noise inside the secure sum (docs/privacy.md). Prints a line per
# round, the federation's epsilon, the final private model's test metrics on a node's
# users beside the popularity ranking's, and a recall list, then stops everything.
#
# The users: 6,000 generated ones (12 taste groups over 300 items), because user-level
# DP needs many users before a private model beats a popularity list: with
# ml-latest-small's 610 users (FR_DEMO_DATA=../shared/data/ml-latest-small) the same
# budget leaves a model below the popularity ranking (docs/privacy.md).
# Everything lands in build/demo/.
set -eu
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
COORD="$BUILD/fedrecall-coordinator"
OUT=${FR_DEMO_OUT:-$BUILD/demo}
DATA=${FR_DEMO_DATA:-}
ROUNDS=${FR_DEMO_ROUNDS:-20}
rm -rf "$OUT"
mkdir -p "$OUT"
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

echo "== federation CA and certificates ($OUT/pki)"
certs/fedrecall-ca init "$OUT/pki" >/dev/null
certs/fedrecall-ca issue-coordinator "$OUT/pki" 127.0.0.1 localhost >/dev/null
for n in shop-a shop-b shop-c; do certs/fedrecall-ca issue-node "$OUT/pki" "$n" >/dev/null; done
certs/fedrecall-ca list "$OUT/pki"

echo "== data: each node gets a disjoint third of the users"
if [ -n "$DATA" ] && [ -f "$DATA/ratings.csv" ]; then
    echo "   from $DATA"
else
    DATA="$OUT/synth"
    "$NODE" synth --users 6000 --items 300 --clusters 8 --seed 7 --out "$DATA" >/dev/null
    echo "   generated: 6000 users of 8 taste groups, 300 items ($DATA)"
fi
i=0
for n in shop-a shop-b shop-c; do
    mkdir -p "$OUT/$n/data"
    cp "$DATA/movies.csv" "$OUT/$n/data/"
    # users go round-robin in order of first appearance; CRLF is kept as is
    awk -F, -v i=$i 'NR == 1 {print; next} !($1 in p) {p[$1] = n++ % 3} p[$1] == i' \
        "$DATA/ratings.csv" >"$OUT/$n/data/ratings.csv"
    echo "   $n: $(($(wc -l <"$OUT/$n/data/ratings.csv") - 1)) ratings"
    i=$((i + 1))
done

USERS=$(awk -F, 'NR > 1 && !($1 in u) {u[$1] = 1; n++} END {print n}' "$DATA/ratings.csv")
DELTA=$(awk -v n="$USERS" 'BEGIN { printf "%.3g", 1 / (10 * n) }')
echo "   $USERS users in all"

echo "== the operator's initial model from the item catalogue"
"$NODE" init-model --items "$DATA" --format movielens-csv --out "$OUT/initial-model.frm"

echo "== coordinator on 127.0.0.1 (mutual TLS, secure aggregation), $ROUNDS rounds"
mkdir -p "$OUT/coordinator"
cp "$OUT/initial-model.frm" "$OUT/coordinator/initial-model.frm"
cat >"$OUT/coordinator.conf" <<CONF
listen = 127.0.0.1:0
cert = $OUT/pki/coordinator.crt
key = $OUT/pki/coordinator.key
ca = $OUT/pki/ca.crt
crl = $OUT/pki/crl.pem
state-dir = $OUT/coordinator
min-nodes = 3
rounds = $ROUNDS
retry = 1
local-epochs = 3
lr = 0.01
max-update-norm = 50
# the coordinator learns only each round's sum of the nodes' masked updates
secure-aggregation = on
# each round one step of user-level DP-SGD over all $USERS users: every node samples
# its users at rate q and adds its share of the noise; sigma planned for epsilon 8 at
# delta 1/(10 users) over the $ROUNDS rounds; Adam on the server at 1/rounds (the
# default server optimiser under dp-federation)
dp-federation = true
dp-fed-q = 0.2
dp-fed-epsilon = 8
dp-fed-delta = $DELTA
dp-fed-clip = 1.0
dp-fed-users = $USERS
CONF
"$COORD" serve --config "$OUT/coordinator.conf" 2>"$OUT/coordinator.log" &
pids="$pids $!"
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$OUT/coordinator.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$OUT/coordinator.log"; exit 1; }
echo "   listening on port $port; public signing key $OUT/coordinator/signing.pub"

echo "== three nodes, federation-wide DP, budget epsilon 8 each"
node_pids=""
for n in shop-a shop-b shop-c; do
    cat >"$OUT/$n/node.conf" <<CONF
coordinator = https://127.0.0.1:$port
cert = $OUT/pki/nodes/$n.crt
key = $OUT/pki/nodes/$n.key
ca = $OUT/pki/ca.crt
crl = $OUT/pki/crl.pem
coordinator-key = $OUT/coordinator/signing.pub
data = $OUT/$n/data
format = movielens-csv
state-dir = $OUT/$n/state
threads = 1
max-rounds = $ROUNDS
# never send an update in the clear
require-secure-aggregation = true

[dp]
dp = true
epsilon-max = 8
delta = $DELTA
sampling-rate = 0.2
clip = 1.0
CONF
    "$NODE" run --config "$OUT/$n/node.conf" >"$OUT/$n/node.log" 2>&1 &
    node_pids="$node_pids $!"
    pids="$pids $!"
done
for p in $node_pids; do wait "$p" || { echo "a node failed:"; tail -n 5 "$OUT"/*/node.log; exit 1; }; done
sleep 1.5 # the last metrics reach the coordinator before the report

echo "== rounds (each a secure one: the coordinator saw only the sum of the masked updates)"
grep "dp-federation\|round 1 is secure\|round 1: unmasked\|round 1: federation-wide" \
    "$OUT/coordinator.log" | sed 's/^/   /'
"$COORD" report --state-dir "$OUT/coordinator"
echo "   (HR@10, NDCG@10: the federation's figures for each version, decoded from the masked"
echo "    sum of the round that trained from it; no round trained from the last version)"

echo "== the federation's privacy: every node's ledger holds the same federation-wide epsilon"
for n in shop-a shop-b shop-c; do
    echo "   $n: $("$NODE" privacy status --state-dir "$OUT/$n/state" | grep federation-wide)"
done

echo "== the final private model on shop-a's users (test split), beside a popularity ranking"
"$NODE" eval --model "$OUT/shop-a/state/global.frm" --data "$OUT/shop-a/data" \
    --format movielens-csv --model-catalogue | grep -i "test" | sed 's/^/   /'

user=$(awk -F, 'NR == 2 {print $1}' "$OUT/shop-a/data/ratings.csv")
echo "== top-10 recall for user $user at shop-a, from its copy of the final global model"
"$NODE" recall --model "$OUT/shop-a/state/global.frm" --data "$OUT/shop-a/data" \
    --format movielens-csv --model-catalogue --user "$user" -k 10 --strategy model
cleanup
pids=""
echo "demo done: logs and state in $OUT/ (coordinator.log, shop-*/node.log)"
