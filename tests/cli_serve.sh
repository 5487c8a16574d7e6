#!/bin/sh
# fedrecall-node serve end to end, with curl as the client: recall lists equal those of
# `fedrecall-node recall` for the same model and data (every strategy, a batch), the
# popular fallback for unknown users, 400/404/405/413 with a JSON reason for bad
# requests, posted events that survive kill -9 (every acknowledged one is in the log)
# and, after a restart, are part of the user's history; a model file replaced again
# and again under concurrent requests (every answer 200, generations never going
# back); health, metrics, a configuration file and TLS with client certificates.
# Prints ok/not ok per case and a TESTS tally.
set -u
. "$(dirname "$0")/cli_lib.sh"
pid=
trap '[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$NODE" synth --users 150 --items 90 --clusters 3 --seed 5 --out "$tmp/data" >/dev/null 2>&1 \
    && ok "synth" || bad "synth"
for s in 1 2; do
    "$NODE" train --data "$tmp/data" --format movielens-csv --epochs 1 --dim 8 --filters 8 \
        --seq-len 10 --negatives 16 --batch 32 --seed $s --model-out "$tmp/m$s.frm" \
        >"$tmp/train.log" 2>&1 || { bad "train $s"; cat "$tmp/train.log"; }
done
cp "$tmp/m1.frm" "$tmp/model.frm"
D="--data $tmp/data --format movielens-csv --seq-len 10"

# start_server LOG ARGS...: serve in the background; sets pid and port (from the log)
start_server() {
    l=$1
    shift
    server_start "$l" serve "$@"
}
stop_server() { server_stop; }
# items JSON -> item<TAB>score<TAB>source lines
items_tsv() {
    grep -o '{"item":"[^"]*","score":[^,]*,"source":"[^"]*"}' |
        sed 's/{"item":"\([^"]*\)","score":\([^,]*\),"source":"\([^"]*\)"}/\1\t\2\t\3/'
}
# same_list A B: same items and sources in the same order, scores within 1e-5
same_list() {
    [ "$(wc -l <"$1")" -eq "$(wc -l <"$2")" ] && [ "$(wc -l <"$1")" -gt 0 ] &&
        paste "$1" "$2" | awk -F'\t' '$1 != $4 || $3 != $6 { exit 1 }
            { d = $2 - $5; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2
              if (d > 1e-5 * (a + 1e-3)) exit 1 }'
}

# lists_differ OTHER_URL K SAME: for each of $users, with and without a threshold, the
# top-K list of OTHER_URL and its exact=1 list must equal this test's first server's
# ($URL) by the comparison SAME (same_list, or cmp -s for byte equality); prints how
# many differ
lists_differ() {
    n=0
    for u in $users; do
        for extra in "" "&threshold=0"; do
            curl -s "$1/v1/recall?user=$u&k=$2$extra" | items_tsv >"$tmp/got"
            curl -s "$URL/v1/recall?user=$u&k=$2$extra" | items_tsv >"$tmp/want"
            curl -s "$1/v1/recall?user=$u&k=$2$extra&exact=1" | items_tsv >"$tmp/want2"
            { [ ! -s "$tmp/want" ] && [ ! -s "$tmp/got" ]; } ||
                { $3 "$tmp/got" "$tmp/want" && $3 "$tmp/want2" "$tmp/want"; } ||
                { n=$((n + 1)); echo "  differs: $u $extra" >&2; }
        done
    done
    echo "$n"
}

if start_server "$tmp/s1.log" --model "$tmp/model.frm" $D --listen 127.0.0.1:0 --index exact \
    --events-log "$tmp/events" --poll-ms 50 --k-max 50 --max-body 65536; then
    ok "serve started on port $port"
else
    bad "serve did not start"
    cat "$tmp/s1.log"
    finish
    exit 1
fi
URL="http://127.0.0.1:$port"

# recall equals the command line, user by user and strategy by strategy
users=$(awk -F, 'NR > 1 { print $1 }' "$tmp/data/ratings.csv" | sort -u | head -n 5)
diffs=0
for st in model itemcf popular mix; do
    for u in $users; do
        curl -s "$URL/v1/recall?user=$u&k=12&strategy=$st" | items_tsv >"$tmp/got"
        "$NODE" recall --model "$tmp/m1.frm" $D --user "$u" -k 12 --strategy "$st" \
            --threads 1 >"$tmp/want" 2>/dev/null
        same_list "$tmp/got" "$tmp/want" || { diffs=$((diffs + 1)); echo "  differs: $st $u"; }
    done
done
[ $diffs -eq 0 ] && ok "GET /v1/recall = recall for 5 users x 4 strategies" \
    || bad "$diffs lists differ from recall"

# threshold, as in recall
u1=$(echo "$users" | head -n 1)
curl -s "$URL/v1/recall?user=$u1&k=12&threshold=0" | items_tsv >"$tmp/got"
"$NODE" recall --model "$tmp/m1.frm" $D --user "$u1" -k 12 --threshold 0 --threads 1 \
    >"$tmp/want" 2>/dev/null
if { [ ! -s "$tmp/want" ] && [ ! -s "$tmp/got" ]; } || same_list "$tmp/got" "$tmp/want"; then
    ok "threshold = recall --threshold"
else
    bad "threshold differs"
fi

# a batch: one POST for all five users equals recall --users
echo "$users" >"$tmp/ids"
body=$(echo "$users" | awk 'BEGIN { printf "{\"users\":[" } NR > 1 { printf "," }
    { printf "\"%s\"", $1 } END { printf "],\"k\":9,\"strategy\":\"mix\"}" }')
curl -s -XPOST -d "$body" "$URL/v1/recall" >"$tmp/batch.json"
"$NODE" recall --model "$tmp/m1.frm" $D --users "$tmp/ids" -k 9 --strategy mix --threads 1 \
    2>/dev/null | cut -f2- >"$tmp/want"
items_tsv <"$tmp/batch.json" >"$tmp/got"
if same_list "$tmp/got" "$tmp/want" && grep -q '"results":\[{"user":"' "$tmp/batch.json"; then
    ok "POST /v1/recall (5 users) = recall --users"
else
    bad "batch differs"
    head -c 300 "$tmp/batch.json"
fi

# the inverted-file index (forced on for this small catalogue): reading all 9 lists
# gives the exact lists, with seen items masked and the threshold applied; fewer
# lists still give model lists; bad search options are refused
pid1=$pid
cat >"$tmp/ivf.conf" <<CONF
[serve]
index = ivf
nlist = 9
nprobe = 9
ivf-min-items = 0
CONF
if start_server "$tmp/ivf.log" --config "$tmp/ivf.conf" --model "$tmp/model.frm" $D \
    --listen 127.0.0.1:0 --k-max 50 && grep -q "index: ivf, 9 lists" "$tmp/ivf.log"; then
    IURL="http://127.0.0.1:$port"
    diffs=$(lists_differ "$IURL" 12 same_list)
    [ $diffs -eq 0 ] && ok "index = ivf with nprobe = nlist equals exact search (5 users)" \
        || bad "ivf: $diffs lists differ from exact search"
    code1=$(curl -s -o "$tmp/np1.json" -w '%{http_code}' "$IURL/v1/recall?user=$u1&k=12&nprobe=1")
    code2=$(curl -s -o /dev/null -w '%{http_code}' "$IURL/v1/recall?user=$u1&nprobe=0")
    code3=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -d '{"users":["a"],"exact":1}' \
        "$IURL/v1/recall")
    if [ "$code1" = 200 ] && [ "$(items_tsv <"$tmp/np1.json" | cut -f3 | sort -u)" = model ] &&
       [ "$code2" = 400 ] && [ "$code3" = 400 ]; then
        ok "nprobe=1 gives a model list; nprobe=0 and a non-boolean exact get 400"
    else
        bad "search options: $code1 $code2 $code3 $(cat "$tmp/np1.json")"
    fi
    stop_server
else
    bad "serve with index = ivf: $(cat "$tmp/ivf.log")"
    [ -z "$pid" ] || stop_server
fi
pid=$pid1

# the int8 scan: 20 candidates re-ranked for top-10 lists (so that the 8-bit scores,
# not the whole catalogue of 89 items, choose them) give exact search's lists, item
# for item and score for score (re-ranked scores are exact), with seen items masked
# and the threshold applied; exact=1 gives the float scan's lists
pid1=$pid
if start_server "$tmp/q8.log" --model "$tmp/model.frm" $D --listen 127.0.0.1:0 --k-max 50 \
    --scan int8 --rerank 20 && grep -q "scan: int8" "$tmp/q8.log"; then
    QURL="http://127.0.0.1:$port"
    diffs=$(lists_differ "$QURL" 10 "cmp -s")
    [ $diffs -eq 0 ] && ok "scan = int8 (20 candidates) serves exact search's top-10 (5 users)" \
        || bad "int8 scan: $diffs lists differ from exact search"
    stop_server
else
    bad "serve with scan = int8: $(cat "$tmp/q8.log")"
    [ -z "$pid" ] || stop_server
fi
pid=$pid1

# unknown users: the popular fallback, every answer naming the model
curl -s "$URL/v1/recall?user=nobody&k=5" >"$tmp/fb.json"
if [ "$(items_tsv <"$tmp/fb.json" | cut -f3 | sort -u)" = "popular-fallback" ] &&
   [ "$(items_tsv <"$tmp/fb.json" | wc -l)" -eq 5 ] &&
   grep -q '"model":{"generation":1,"version":null}' "$tmp/fb.json"; then
    ok "unknown user: 5 popular-fallback items, model generation 1"
else
    bad "fallback: $(cat "$tmp/fb.json")"
fi

# bad requests: a status and a JSON reason, and the server goes on
check_status() {
    name=$1 want=$2
    shift 2
    code=$(curl -s -o "$tmp/resp" -w '%{http_code}' "$@")
    if [ "$code" = "$want" ] && { [ "$want" = 413 ] || grep -q '^{"error":"' "$tmp/resp"; }; then
        ok "$name: $code $(head -n 1 "$tmp/resp" | head -c 80)"
    else
        bad "$name: $code (want $want) $(head -c 200 "$tmp/resp")"
    fi
}
check_status "no user" 400 "$URL/v1/recall?k=3"
check_status "k over k-max" 400 "$URL/v1/recall?user=$u1&k=51"
check_status "k not a number" 400 "$URL/v1/recall?user=$u1&k=ten"
check_status "unknown strategy" 400 "$URL/v1/recall?user=$u1&strategy=best"
check_status "threshold with mix" 400 "$URL/v1/recall?user=$u1&strategy=mix&threshold=1"
check_status "control character in an id" 400 "$URL/v1/recall?user=a%01b"
check_status "batch not JSON" 400 -XPOST -d '{"users":' "$URL/v1/recall"
check_status "batch without users" 400 -XPOST -d '{"users":[]}' "$URL/v1/recall"
check_status "batch unknown field" 400 -XPOST -d '{"users":["1"],"kk":3}' "$URL/v1/recall"
check_status "event without item" 400 -XPOST -d '{"user":"a","timestamp":1}' "$URL/v1/events"
check_status "event bad line 2" 400 -XPOST --data-binary "$(printf '{"user":"a","item":"b","timestamp":1600000000}\n[1]')" "$URL/v1/events"
check_status "no events" 400 -XPOST -d '' "$URL/v1/events"
check_status "events by GET" 405 "$URL/v1/events"
check_status "unknown path" 404 "$URL/v2/recall"
head -c 70000 /dev/zero | tr '\0' 'x' >"$tmp/big"
check_status "body over --max-body" 413 -XPOST --data-binary @"$tmp/big" "$URL/v1/events"
curl -s "$URL/v1/health" | grep -q '"status":"ok"' && ok "health after bad requests" \
    || bad "health"

# a line that was rejected left nothing in the log
if [ "$(wc -l <"$tmp/events/events.csv")" -eq 1 ]; then
    ok "rejected posts wrote nothing"
else
    bad "log after rejected posts: $(cat "$tmp/events/events.csv")"
fi

# events: acknowledged ones survive kill -9. A poster sends numbered events (two a
# request) and notes each acknowledged request; the server is killed under it.
items=$(awk -F, 'NR > 1 { print $2 }' "$tmp/data/ratings.csv" | sort -u | head -n 4)
i1=$(echo "$items" | sed -n 1p)
i2=$(echo "$items" | sed -n 2p)
(
    n=0
    while [ $n -lt 400 ]; do
        t=$((1600000000 + n))
        b=$(printf '{"user":"newbie","item":"%s","timestamp":%d,"event":"view"}\n{"user":"u%d","item":"%s","timestamp":%d}' "$i1" $t $n "$i2" $t)
        code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST --data-binary "$b" "$URL/v1/events")
        [ "$code" = 200 ] && echo $n >>"$tmp/acked"
        [ "$code" = 000 ] && break
        n=$((n + 1))
    done
) &
poster=$!
i=0
touch "$tmp/acked"
while [ "$(wc -l <"$tmp/acked")" -lt 30 ] && [ $i -lt 300 ]; do
    sleep 0.05
    i=$((i + 1))
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
wait "$poster"
acked=$(wc -l <"$tmp/acked")
missing=0
while read -r n; do
    grep -q "^\"u$n\",\"$i2\",$((1600000000 + n)),," "$tmp/events/events.csv" ||
        missing=$((missing + 1))
done <"$tmp/acked"
if [ "$acked" -ge 30 ] && [ $missing -eq 0 ]; then
    ok "kill -9: all $acked acknowledged posts in the log"
else
    bad "kill -9: $missing of $acked acknowledged posts missing"
fi
# the log is events-csv that the data reader takes
if "$NODE" train --data "$tmp/events" --format events-csv --epochs 1 --dim 8 --filters 8 \
    --seq-len 10 --negatives 2 --batch 8 --model-out "$tmp/ev.frm" >"$tmp/evtrain.log" 2>&1 \
    || grep -q "rows read" "$tmp/evtrain.log"; then
    ok "the behaviour log reads as events-csv"
else
    bad "behaviour log unreadable: $(tail -n 2 "$tmp/evtrain.log")"
fi

# the log as extra training data: train reads the data's rows and the log's
rows=$(($(wc -l <"$tmp/data/ratings.csv") - 1 + $(wc -l <"$tmp/events/events.csv") - 1))
"$NODE" train --data "$tmp/data" --format movielens-csv --extra-events "$tmp/events" \
    --epochs 1 --dim 8 --filters 8 --seq-len 10 --negatives 4 --batch 32 --time-only \
    >"$tmp/extra.log" 2>&1
if grep -q "ratings.csv + $tmp/events/events.csv ($rows rows)" "$tmp/extra.log"; then
    ok "train --extra-events reads the data and the log: $rows rows"
else
    bad "train --extra-events: $(sed -n 1,2p "$tmp/extra.log")"
fi

# restart: the log is replayed; newbie's events are history (model, not fallback,
# and the item seen is not recommended back)
cat >"$tmp/serve.conf" <<CONF
[serve]
model = $tmp/model.frm
data = $tmp/data
format = movielens-csv
listen = 127.0.0.1:0
events-log = $tmp/events
seq-len = 10
poll-ms = 50
CONF
if start_server "$tmp/s2.log" --config "$tmp/serve.conf"; then
    ok "restart from a configuration file"
else
    bad "restart: $(cat "$tmp/s2.log")"
fi
URL="http://127.0.0.1:$port"
curl -s "$URL/v1/recall?user=newbie&k=5" >"$tmp/nb.json"
if [ "$(items_tsv <"$tmp/nb.json" | cut -f3 | sort -u)" = "model" ] &&
   ! items_tsv <"$tmp/nb.json" | cut -f1 | grep -qx "$i1" &&
   grep -q "events replayed" "$tmp/s2.log"; then
    ok "after restart newbie's posted events are history: $(grep -o '[0-9]* events replayed' "$tmp/s2.log")"
else
    bad "newbie after restart: $(cat "$tmp/nb.json")"
fi
# a fresh post is acknowledged and part of the next recall at once
i3=$(items_tsv <"$tmp/nb.json" | head -n 1 | cut -f1)
curl -s -XPOST -d "{\"user\":\"newbie\",\"item\":\"$i3\",\"timestamp\":1600009999}" "$URL/v1/events" \
    >"$tmp/post.json"
curl -s "$URL/v1/recall?user=newbie&k=5" | items_tsv >"$tmp/nb2"
if grep -q '"accepted":1' "$tmp/post.json" && ! cut -f1 "$tmp/nb2" | grep -qx "$i3" &&
   [ "$(wc -l <"$tmp/nb2")" -eq 5 ]; then
    ok "a posted item is history for the next recall"
else
    bad "posted item $i3 still recommended: $(cat "$tmp/post.json")"
fi

# live swap under load: three clients ask in a loop while the model file is replaced
# six times (a rename, as run installs a model); every answer must be 200 and each
# client's generations must never go back
for c in 1 2 3; do
    (
        while [ ! -e "$tmp/stop" ]; do
            r=$(curl -s -w ' %{http_code}' "$URL/v1/recall?user=$u1&k=20&strategy=mix")
            echo "$r" | tr -d '\n' | sed 's/.*"generation":\([0-9]*\).* \([0-9]*\)$/\1 \2/'
            echo
        done >"$tmp/load$c"
    ) &
    eval "client$c=\$!"
done
gen=1
swapped=1
for s in 2 1 2 1 2 1; do
    cp "$tmp/m$s.frm" "$tmp/model.tmp" && mv "$tmp/model.tmp" "$tmp/model.frm"
    want=$((gen + 1))
    i=0
    while ! curl -s "$URL/v1/health" | grep -q "\"generation\":$want," && [ $i -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    curl -s "$URL/v1/health" | grep -q "\"generation\":$want," || swapped=0
    gen=$want
done
kill -HUP "$pid" # SIGHUP reloads at once, even the same file
i=0
while ! curl -s "$URL/v1/health" | grep -q "\"generation\":8," && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
curl -s "$URL/v1/health" | grep -q "\"generation\":8," || swapped=0
touch "$tmp/stop"
wait $client1 $client2 $client3
total=$(cat "$tmp/load1" "$tmp/load2" "$tmp/load3" | wc -l)
non200=$(cat "$tmp/load1" "$tmp/load2" "$tmp/load3" | awk '$2 != 200' | wc -l)
backwards=0
for c in 1 2 3; do
    awk '$1 < prev { bad = 1 } { prev = $1 } END { exit bad }' "$tmp/load$c" \
        || backwards=$((backwards + 1))
done
seen=$(cat "$tmp/load1" "$tmp/load2" "$tmp/load3" | cut -d' ' -f1 | sort -u | wc -l)
if [ $swapped -eq 1 ] && [ "$total" -gt 0 ] && [ "$non200" -eq 0 ] && [ $backwards -eq 0 ]; then
    ok "7 swaps under load: $total answers all 200, $seen generations seen, none going back"
else
    bad "swap under load: swapped=$swapped, $non200 of $total not 200, $backwards clients went back"
fi
# a broken model file is refused and the old model kept
head -c 100 "$tmp/m1.frm" >"$tmp/model.tmp" && mv "$tmp/model.tmp" "$tmp/model.frm"
i=0
while ! grep -q "not loaded, generation 8 kept" "$tmp/s2.log" && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
code=$(curl -s -o "$tmp/after" -w '%{http_code}' "$URL/v1/recall?user=$u1&k=3")
if grep -q "not loaded, generation 8 kept" "$tmp/s2.log" && [ "$code" = 200 ] &&
   grep -q '"generation":8,' "$tmp/after"; then
    ok "a broken model file is refused, generation 8 still serving"
else
    bad "broken model: $code $(tail -n 2 "$tmp/s2.log")"
fi

# metrics: Prometheus text with counts, latency histograms and the model
curl -s "$URL/metrics" >"$tmp/metrics"
if grep -q '^fedrecall_serve_requests_total{endpoint="recall",code="200"} [1-9]' "$tmp/metrics" &&
   grep -q '^fedrecall_serve_request_seconds_bucket{endpoint="recall",le="+Inf"} [1-9]' "$tmp/metrics" &&
   grep -q '^fedrecall_serve_model_generation 8$' "$tmp/metrics" &&
   grep -q '^fedrecall_serve_model_swap_failures_total 1$' "$tmp/metrics" &&
   grep -q '^fedrecall_serve_events_total 1$' "$tmp/metrics"; then
    ok "metrics: requests, latency, generation 8, one failed swap, one event"
else
    bad "metrics"
    head -n 30 "$tmp/metrics"
fi
stop_server

# overload: a queue of one request and one scoring thread under 24 requests at once;
# every answer is a list or a 503 with its reason, and the server counts the 503s it
# gave
if start_server "$tmp/s4.log" --model "$tmp/m1.frm" $D --listen 127.0.0.1:0 --max-queue 1 \
    --workers 1 --batch-users 1; then
    body=$(awk -F, 'NR > 1 { print $1 }' "$tmp/data/ratings.csv" | sort -u | head -n 150 |
        awk 'BEGIN { printf "{\"users\":[" } NR > 1 { printf "," }
            { printf "\"%s\"", $1 } END { printf "],\"k\":80,\"strategy\":\"mix\"}" }')
    cpids=
    for c in $(seq 1 24); do
        curl -s -o "$tmp/ov$c" -w '%{http_code}\n' -XPOST -d "$body" \
            "http://127.0.0.1:$port/v1/recall" >"$tmp/ovc$c" &
        cpids="$cpids $!"
    done
    wait $cpids
    n200=0 n503=0 other=0
    for c in $(seq 1 24); do
        case "$(cat "$tmp/ovc$c")" in
        200) grep -q '"results":\[' "$tmp/ov$c" && n200=$((n200 + 1)) || other=$((other + 1)) ;;
        503) grep -q '^{"error":"overloaded' "$tmp/ov$c" && n503=$((n503 + 1)) || other=$((other + 1)) ;;
        *) other=$((other + 1)) ;;
        esac
    done
    counted=$(curl -s "http://127.0.0.1:$port/metrics" |
        sed -n 's/^fedrecall_serve_requests_total{endpoint="recall_batch",code="503"} //p')
    if [ $other -eq 0 ] && [ $((n200 + n503)) -eq 24 ] && [ "${counted:-0}" -eq $n503 ]; then
        ok "overload: $n200 lists and $n503 answers 503, as the metrics count"
    else
        bad "overload: $n200 x 200, $n503 x 503, $other others, metrics $counted"
    fi
    stop_server
else
    bad "overload server: $(tail -n 2 "$tmp/s4.log")"
fi

# TLS with client certificates required: a node's certificate gets answers, no
# certificate and plain HTTP get none
CA_TOOL=certs/fedrecall-ca
ca="$tmp/ca"
cp "$tmp/m1.frm" "$tmp/model.frm"
if { "$CA_TOOL" init "$ca" && "$CA_TOOL" issue-coordinator "$ca" 127.0.0.1 localhost &&
     "$CA_TOOL" issue-node "$ca" app-1; } >"$tmp/ca.log" 2>&1 &&
   start_server "$tmp/s3.log" --model "$tmp/model.frm" $D --listen 127.0.0.1:0 --tls \
       --cert "$ca/coordinator.crt" --key "$ca/coordinator.key" --ca "$ca/ca.crt" \
       --require-client-cert; then
    T="https://127.0.0.1:$port/v1/recall?user=$u1&k=3"
    c1=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca/ca.crt" \
        --cert "$ca/nodes/app-1.crt" --key "$ca/nodes/app-1.key" "$T")
    c2=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca/ca.crt" "$T")
    c3=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/recall?user=$u1")
    if [ "$c1" = 200 ] && [ "$c2" = 000 ] && [ "$c3" = 000 ]; then
        ok "TLS: client certificate 200, none refused, plain HTTP refused"
    else
        bad "TLS: with cert $c1, without $c2, plain $c3"
    fi
    stop_server
else
    bad "TLS server: $(cat "$tmp/ca.log" "$tmp/s3.log" 2>/dev/null | tail -n 3)"
fi

# bad usage: one line, exit 2
expect_usage "serve without --model" serve --data "$tmp/data" --format movielens-csv
expect_usage "serve with --k over --k-max" serve --model "$tmp/m1.frm" $D --k 20 --k-max 10
expect_usage "serve with an unknown scan" serve --model "$tmp/m1.frm" $D --scan int4
expect_usage "serve with a broken model file" serve --model "$tmp/big" $D
expect_usage "serve on a non-loopback address without TLS" serve --model "$tmp/m1.frm" $D \
    --listen 0.0.0.0:0
finish
