#!/bin/sh
# Reclaiming retired rows (docs/catalogue.md): two nodes run while the operator
# retires the 10 most-used items; once both nodes have confirmed mapping their data
# onto that catalogue version and a round has been aggregated since, `catalogue add`
# puts 10 new items into those rows (the row count stays 120). The nodes go on without
# a restart: each resets what it kept for the rows and maps its data again, so that
# its events on the retired items no longer map to the rows and its events on the new
# items do. No model recalls a retired item afterwards; the new items are recalled.
# A recall service beside n1 follows every model without a restart (it leaves the
# reclaimed rows of its data out until a restart maps its data again); restarted, it
# serves the new items.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 n2 || { bad "certificates"; finish; exit 1; }
fed_data 2 --users 200 --items 120 --clusters 4 --seed 7 || { bad "data"; finish; exit 1; }
# the 10 most-used items are retired; 10 new ones take over their users' events, one
# second later, in each node's data from the start (unknown until they are added)
awk -F, 'NR > 1 {c[$2]++} END {for (k in c) print c[k], k}' "$tmp/data/ratings.csv" |
    sort -k1,1nr -k2,2n | head -n 10 | awk '{print $2}' >"$tmp/gone.txt"
mkdir -p "$tmp/new"
echo "movieId,title,genres" >"$tmp/new/movies.csv"
awk '{printf "%d,New %d (2026),Drama|Comedy\n", 900000 + NR, NR}' "$tmp/gone.txt" >>"$tmp/new/movies.csv"
tail -n +2 "$tmp/new/movies.csv" | cut -d, -f1 >"$tmp/new.txt"
for i in 1 2; do
    awk -F, 'NR == FNR {to[$1] = 900000 + FNR; next} {print} FNR > 1 && ($2 in to) {
        printf "%s,%d,%s,%d\n", $1, to[$2], $3, $4 + 1}' "$tmp/gone.txt" "$tmp/part$i/ratings.csv" \
        >"$tmp/r$i" && mv "$tmp/r$i" "$tmp/part$i/ratings.csv"
done
STATE="$tmp/coord"
# rounds enough that, however late the rows become reclaimable on a loaded machine, both
# nodes confirm the added items' version with a round aggregated after it
R=12
fed_start_coord "$STATE" --min-nodes 2 --rounds $R --retry 1 --local-epochs 1 --seq-len 20 \
    --batch 32 --negatives 16 --lr 0.02 --recipe peer --secure-aggregation off ||
    { bad "coordinator start"; finish; exit 1; }
wait_log() { # PATTERN SECONDS
    for _ in $(seq 1 $(($2 * 10))); do
        grep -q "$1" "$STATE.log" && return 0
        sleep 0.1
    done
    return 1
}
# the recall service beside n1, on the model file that n1's run keeps current
mkdir -p "$tmp/state-n1"
cp "$tmp/init.frm" "$tmp/state-n1/global.frm"
server_start "$tmp/serve1.log" serve --model "$tmp/state-n1/global.frm" --data "$tmp/part1" \
    --format movielens-csv --seq-len 20 --listen 127.0.0.1:0 --poll-ms 50 --events-log "$tmp/evlog" ||
    bad "serve: $(cat "$tmp/serve1.log")"
spid=$pid
sport=$port
pids="$pids $spid"
node_pids=""
for i in 1 2; do
    fed_node_conf "n$i" "part$i"
    fed_start_node "n$i"
    node_pids="$node_pids $NODE_PID"
done
wait_log "round 2 open" 120 || bad "round 2 did not open"
"$COORD" catalogue retire --state-dir "$STATE" --ids "$tmp/gone.txt" >"$tmp/ret.out" 2>&1 &&
    grep -q "catalogue version 1: 10 items retired, 110 live" "$tmp/ret.out" &&
    ok "operator retires the 10 most-used items during round 2" || bad "retire: $(cat "$tmp/ret.out")"
"$COORD" catalogue show --state-dir "$STATE" >"$tmp/show1" 2>&1
grep -q "^10 retired rows, 0 of them reclaimable" "$tmp/show1" &&
    ok "at once: nothing reclaimable ($(sed -n 2p "$tmp/show1"))" || bad "show: $(cat "$tmp/show1")"
# the nodes map their data onto version 1 at their next round and say so in their
# joins; a round aggregated after that, the rows are reclaimable
reclaimable=0
for _ in $(seq 1 900); do
    "$COORD" catalogue show --state-dir "$STATE" >"$tmp/show2" 2>&1
    grep -q "^10 retired rows, 10 of them reclaimable (2 nodes; every one has confirmed catalogue version 1" "$tmp/show2" &&
        { reclaimable=1; break; }
    sleep 0.2
done
[ "$reclaimable" = 1 ] && [ "$(grep -c ': reclaimable$' "$tmp/show2")" = 10 ] &&
    ok "once both nodes confirmed version 1: 10 rows reclaimable ($(grep -o 'round [0-9]* published' "$STATE.log" | tail -n 1))" ||
    bad "never reclaimable: $(cat "$tmp/show2")"
"$COORD" catalogue add --state-dir "$STATE" --items "$tmp/new" --format movielens-csv >"$tmp/add.out" 2>&1 &&
    grep -q "catalogue version 2: 10 items added (10 into reclaimed rows, 0 new rows), 120 items" "$tmp/add.out" &&
    ok "operator adds 10 items: they take the reclaimed rows, still 120 rows" || bad "add: $(cat "$tmp/add.out")"
"$COORD" catalogue show --state-dir "$STATE" >"$tmp/show3" 2>&1
[ "$(grep -c "^row [0-9]*: reused in version 2 for item '9000[01][0-9]' (retired item '[0-9]*' before)" "$tmp/show3")" = 10 ] &&
    grep -q "^0 retired rows, 0 of them reclaimable .* 10 rows reused" "$tmp/show3" &&
    ok "show marks the 10 reused rows" || bad "show after add: $(cat "$tmp/show3")"
all_done=1
for p in $node_pids; do fed_wait "$p" 300 || all_done=0; done
[ "$all_done" = 1 ] && ok "the nodes ran the $R rounds" || { bad "nodes still running"; tail -n 5 "$tmp"/n*.log; }
grep -q "federation finished: $R rounds" "$STATE.log" && grep -q "catalogue version 2: 120 items (120 live, 0 new rows, 10 reclaimed rows)" "$STATE.log" &&
    ok "the coordinator published version 2 with 10 reclaimed rows" || bad "coordinator: $(grep -i 'catalogue\|finished' "$STATE.log")"
for i in 1 2; do
    [ "$(grep -c 'fedrecall-node run\|starting' "$tmp/n$i.log")" -le 1 ] && ! grep -q "stopping:\|REFUSED" "$tmp/n$i.log" ||
        bad "n$i restarted, stopped or refused: $(grep 'stopping\|REFUSED' "$tmp/n$i.log")"
    grep -q "catalogue version 2 reclaims 10 rows for new items" "$tmp/n$i.log" ||
        bad "n$i: no reset of the reclaimed rows: $(grep catalogue "$tmp/n$i.log")"
    # the data's mapping: before, the new items' events were skipped as unknown; after,
    # the retired items' events are, in the same number (the new ones copy them)
    ev_gone=$(awk -F, 'NR == FNR {g[$1] = 1; next} FNR > 1 && ($2 in g)' "$tmp/gone.txt" "$tmp/part$i/ratings.csv" | wc -l)
    skip0=$(grep "data:" "$tmp/n$i.log" | head -n 1 | sed -n 's/.* \([0-9]*\) skipped).*/\1/p')
    skip2=$(grep "data:" "$tmp/n$i.log" | tail -n 1 | sed -n 's/.* \([0-9]*\) skipped).*/\1/p')
    [ "$skip0" = "$ev_gone" ] && [ "$skip2" = "$ev_gone" ] &&
        [ "$(grep -c 'data:' "$tmp/n$i.log")" -ge 3 ] &&
        ok "n$i: the new items' $ev_gone events unknown at first; after the reuse the retired items' $skip2 are" ||
        bad "n$i data lines ($ev_gone events on retired items): $(grep 'data:' "$tmp/n$i.log")"
done
ok "no node stopped or restarted"
last=$(ls "$STATE/models" | grep "model-0*$R.frm")
"$NODE" export --model "$STATE/models/$last" --npy "$tmp/npy" >/dev/null 2>&1
shape=$(head -c 120 "$tmp/npy/E_id.npy" | tr -cd '[:print:]' | sed -n "s/.*'shape': (\([0-9]*\),.*/\1/p")
[ "$shape" = 121 ] && ok "the last model still has 120 item rows" || bad "E_id rows: $shape"
# no retired item recalled by the last model; the new ones are
awk -F, 'NR > 1 {print $1}' "$tmp/data/ratings.csv" | sort -u >"$tmp/users.txt"
cat "$tmp/part1/ratings.csv" >"$tmp/all.csv"
tail -n +2 "$tmp/part2/ratings.csv" >>"$tmp/all.csv"
mkdir -p "$tmp/alldata"
cp "$tmp/all.csv" "$tmp/alldata/ratings.csv"
cp "$tmp/data/movies.csv" "$tmp/alldata/"
"$NODE" recall --model "$STATE/models/$last" --data "$tmp/alldata" --format movielens-csv \
    --model-catalogue --users "$tmp/users.txt" -k 20 --seq-len 20 >"$tmp/recall" 2>"$tmp/recall.err"
total=$(wc -l <"$tmp/recall")
gonehits=$(awk -F'\t' 'NR == FNR {g[$1] = 1; next} ($2 in g)' "$tmp/gone.txt" "$tmp/recall" | wc -l)
newhits=$(awk -F'\t' 'NR == FNR {g[$1] = 1; next} ($2 in g)' "$tmp/new.txt" "$tmp/recall" | wc -l)
[ "$total" -ge 3000 ] && [ "$gonehits" = 0 ] && [ "$newhits" -gt 0 ] &&
    ok "the last model: no retired item in $total results, $newhits new-item results" ||
    bad "recall: $total results, $gonehits retired, $newhits new; $(tail -n 2 "$tmp/recall.err")"
# the check can fail: before the retirement those items were recalled
"$NODE" recall --model "$STATE/models/model-000001.frm" --data "$tmp/data" --format movielens-csv \
    --users "$tmp/users.txt" -k 20 --seq-len 20 >"$tmp/recall1" 2>/dev/null
before=$(awk -F'\t' 'NR == FNR {g[$1] = 1; next} ($2 in g)' "$tmp/gone.txt" "$tmp/recall1" | wc -l)
[ "$before" -gt 0 ] && ok "version 1 recalled the items retired later ($before results)" || bad "version 1: $before"
# the service that ran beside n1 followed every version without a restart: it serves
# version R, no retired item (their rows, reclaimed, are left out), and events on a
# retired item no longer match
for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$sport/v1/health" | grep -q "\"version\":$R" && break
    sleep 0.1
done
: >"$tmp/served1"
for u in $(awk -F, 'NR > 1 {print $1}' "$tmp/part1/ratings.csv" | sort -u | head -n 40); do
    curl -s "http://127.0.0.1:$sport/v1/recall?user=$u&k=20" | grep -o '"item":"[^"]*"' | cut -d'"' -f4 >>"$tmp/served1"
done
g1=$(head -n 1 "$tmp/gone.txt")
r=$(printf '{"user":"u1","item":"%s","timestamp":1700000000}\n' "$g1" |
    curl -s -XPOST --data-binary @- "http://127.0.0.1:$sport/v1/events")
[ "$(wc -l <"$tmp/served1")" -ge 400 ] && [ "$(grep -cxF -f "$tmp/gone.txt" "$tmp/served1")" = 0 ] &&
    [ "$r" = '{"accepted":1,"unknown_items":1}' ] && kill -0 "$spid" && ! grep -q "not loaded" "$tmp/serve1.log" &&
    grep -q "catalogue of 120 items followed: 10 rows reclaimed" "$tmp/serve1.log" &&
    ok "the running service followed the reuse to version $R: no retired item, an event on one unknown" ||
    bad "running service: $(wc -l <"$tmp/served1") results, post $r; $(grep -i 'follow\|not loaded' "$tmp/serve1.log" | tail -n 3)"
kill "$spid"
# restarted on n1's data and the last model: the new items, never the retired
cp "$STATE/models/$last" "$tmp/serve.frm"
server_start "$tmp/serve.log" serve --model "$tmp/serve.frm" --data "$tmp/part1" --format movielens-csv \
    --seq-len 20 --listen 127.0.0.1:0 || bad "serve: $(cat "$tmp/serve.log")"
: >"$tmp/served"
for u in $(awk -F, 'NR > 1 {print $1}' "$tmp/part1/ratings.csv" | sort -u | head -n 40); do
    curl -s "http://127.0.0.1:$port/v1/recall?user=$u&k=20" | grep -o '"item":"[^"]*"' | cut -d'"' -f4 >>"$tmp/served"
done
sgone=$(grep -cxF -f "$tmp/gone.txt" "$tmp/served")
snew=$(grep -cxF -f "$tmp/new.txt" "$tmp/served")
[ "$(wc -l <"$tmp/served")" -ge 400 ] && [ "$sgone" = 0 ] && [ "$snew" -gt 0 ] &&
    ok "the recall service serves $snew new-item results, no retired item" ||
    bad "service: $(wc -l <"$tmp/served") results, $sgone retired, $snew new"
server_stop
# the store keeps what the nodes confirmed: version 2, and no more
"$COORD" catalogue retire --state-dir "$STATE" --ids "$tmp/new.txt" >/dev/null 2>&1 || bad "retire the new items"
"$COORD" catalogue show --state-dir "$STATE" >"$tmp/show4" 2>&1
grep -q "^10 retired rows, 0 of them reclaimable (2 nodes; every one has confirmed catalogue version 2" "$tmp/show4" &&
    ok "the store kept the confirmations: version 2 confirmed, version 3's retirements not yet reclaimable" ||
    bad "show at the end: $(head -n 2 "$tmp/show4")"
finish
