#!/bin/sh
# The recall service beside a federated node: fedrecall-node serve watches the node's
# STATE/global.frm while `run` installs new signed versions (each served with the
# federation's version from global.sig), and the events posted to the service are
# training data of the node's rounds (`extra-events` naming the service's log): the
# node's data gains the user who exists only in the log.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 || { bad "certificates"; finish; exit 1; }
fed_data 1 --users 200 --items 120 --clusters 4 --seed 3 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
# one node alone: plain rounds (a secure round needs three members)
fed_start_coord "$STATE" --min-nodes 1 --rounds 2 --retry 1 --local-epochs 1 --seq-len 10 \
    --batch 32 --negatives 16 --secure-aggregation off || { bad "coordinator start"; finish; exit 1; }

# the service starts on the initial model, where the node will keep its global model
mkdir -p "$tmp/state-n1"
cp "$tmp/init.frm" "$tmp/state-n1/global.frm"
"$NODE" serve --model "$tmp/state-n1/global.frm" --data "$tmp/part1" --format movielens-csv \
    --seq-len 10 --listen 127.0.0.1:0 --events-log "$tmp/events" --poll-ms 50 \
    2>"$tmp/serve.log" &
spid=$!
pids="$pids $spid"
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on .*, port \([0-9]*\) .*/\1/p' "$tmp/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] && ok "serve on the node's model (port $port)" || { bad "serve"; cat "$tmp/serve.log"; }
URL="http://127.0.0.1:$port"
items=$(awk -F, 'NR > 1 { print $2 }' "$tmp/part1/ratings.csv" | sort -u | head -n 6)
body=$(echo "$items" | awk -v now="$(date +%s)" \
    '{ printf "{\"user\":\"fresh-1\",\"item\":\"%s\",\"timestamp\":%d}\n", $1, now - 100 + NR }')
curl -s -XPOST --data-binary "$body" "$URL/v1/events" | grep -q '"accepted":6' &&
    ok "6 events of a new user posted" || bad "post"

fed_node_conf n1 part1
echo "extra-events = $tmp/events" >>"$tmp/n1.conf"
users=$(awk -F, 'NR > 1 { print $1 }' "$tmp/part1/ratings.csv" | sort -u | wc -l)
fed_start_node n1
fed_wait "$NODE_PID" 120 && ok "the node ran two rounds" || { bad "node still running"; tail "$tmp/n1.log"; }
if grep -q "data: $((users + 1)) users" "$tmp/n1.log"; then
    ok "the node trained on its $users users and the log's new one"
else
    bad "node data: $(grep 'data:' "$tmp/n1.log")"
fi
# the service swapped in the node's last version, and says which it is
version=$(cut -d' ' -f1 "$tmp/state-n1/global.sig")
for _ in $(seq 1 100); do
    curl -s "$URL/v1/health" | grep -q "\"version\":$version}" && break
    sleep 0.05
done
health=$(curl -s "$URL/v1/health")
gen=$(echo "$health" | sed -n 's/.*"generation":\([0-9]*\).*/\1/p')
if echo "$health" | grep -q "\"version\":$version}" && [ "${gen:-0}" -ge 2 ]; then
    ok "serving federation version $version (generation $gen)"
else
    bad "health after the rounds: $health (global.sig: $version)"
fi
curl -s "$URL/v1/recall?user=fresh-1&k=5" | grep -q "\"version\":$version},\"strategy\":\"model\",\"k\":5,\"items\":\[{\"item\":\"[^\"]*\",\"score\":[^,]*,\"source\":\"model\"" &&
    ok "the new user is recalled by the model, version $version" || bad "recall of fresh-1"
kill "$spid"
finish
