#!/bin/sh
# The recall service under load (docs/benchmarks.md, "Recall service"): wrk against
# fedrecall-node serve on loopback, on a generated catalogue of 100,000 items at
# d = 64 (synth + init-model) with 20,000 users.
# The server builds the inverted-file index (--index ivf, its default nlist and nprobe).
#   exact      GET /v1/recall?user=U&k=100&exact=1 for random users of the data (model
#              strategy, exact search)
#   ivf        the same through the index at its default nprobe
#   ivf-npN    the same reading N lists (N in FR_BENCH_SERVE_NPROBES, "64 24")
#   events     POST /v1/events, 100 JSON lines a request, acknowledged once synced
# Then the index's recall@100 against exact search over 500 users of the data, at each
# nprobe of FR_BENCH_SERVE_CURVE (bench/serve_recall.py), and its build time (the
# server's log).
# Each case runs FR_BENCH_SERVE_SECONDS (10) with FR_BENCH_SERVE_CONNS connections
# (recall 32, events 16), wrk on one thread. Prints one line per case and writes them
# to bench/out/serve.md (and bench/out/serve.json).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
SECS=${FR_BENCH_SERVE_SECONDS:-10}
RCONNS=${FR_BENCH_SERVE_CONNS:-32}
NPROBES=${FR_BENCH_SERVE_NPROBES:-64 24}
CURVE=${FR_BENCH_SERVE_CURVE:-8 24 64 128 160 200 316}
ECONNS=${FR_BENCH_SERVE_EVENT_CONNS:-16}
OUT=bench/out
W="$OUT/serve"
FR_WITH_BENCH=1 deploy/install-deps.sh
mkdir -p "$OUT"
rm -rf "$W"
mkdir -p "$W"
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null' EXIT

"$NODE" synth --users 20000 --items 100000 --clusters 50 --seed 1 --out "$W/data" >/dev/null
"$NODE" init-model --items "$W/data" --format movielens-csv --dim 64 --out "$W/model.frm" \
    >/dev/null

# random users of the data (a wrk script per query suffix), and a body of 100 events
awk -F, 'NR > 1 { print $1 }' "$W/data/ratings.csv" | sort -u | head -n 2000 >"$W/users"
sed -n 1001,1500p "$W/users" >"$W/recall-users"
# recall_lua SUFFIX: requests for random users, SUFFIX after k=100
recall_lua() {
    awk 'BEGIN { print "local ids = {" } { printf "\"%s\",\n", $1 } END { print "}" }' \
        "$W/users"
    cat <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", "/v1/recall?user=" .. ids[math.random(#ids)] .. "&k=100$1")
end
LUA
}
recall_lua "&exact=1" >"$W/exact.lua"
recall_lua "" >"$W/ivf.lua"
for np in $NPROBES; do
    recall_lua "&nprobe=$np" >"$W/ivf-np$np.lua"
done
awk -F, 'NR > 1 && NR <= 101 { sub(/\r$/, "", $4)
    printf "{\"user\":\"%s\",\"item\":\"%s\",\"timestamp\":%s,\"event\":\"view\"}\n", $1, $2, $4 }' \
    "$W/data/ratings.csv" >"$W/events.ndjson"
{
    printf 'wrk.method = "POST"\nwrk.body = "'
    sed 's/"/\\"/g; s/$/\\n/' "$W/events.ndjson" | tr -d '\n'
    printf '"\n'
} >"$W/events.lua"

"$NODE" serve --model "$W/model.frm" --data "$W/data" --format movielens-csv \
    --listen 127.0.0.1:0 --events-log "$W/events" --k-max 100 --index ivf 2>"$W/serve.log" &
pid=$!
port=
i=0
while [ -z "$port" ] && [ $i -lt 600 ] && kill -0 "$pid" 2>/dev/null; do
    port=$(sed -n 's/.*listening on .*, port \([0-9]*\) .*/\1/p' "$W/serve.log")
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
done
[ -n "$port" ] || { echo "bench: serve did not start" >&2; cat "$W/serve.log" >&2; exit 1; }
curl -sf "http://127.0.0.1:$port/v1/recall?user=$(head -n 1 "$W/users")&k=100" >/dev/null

# case NAME CONNS PER_REQUEST SCRIPT PATH: one wrk run, one summary line
case_run() {
    wrk -t1 -c"$2" -d"${SECS}s" --latency -s "$4" "http://127.0.0.1:$port$5" >"$W/$1.wrk" 2>&1
    awk -v name="$1" -v conns="$2" -v per="$3" -v secs="$SECS" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            return v
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        /Non-2xx/ { bad = $NF }
        / requests in / { n = $1 }
        END {
            unit = per > 1 ? "events" : "lists"
            fmt = "%-10s %3d connections, %ds: %8.0f requests/s (%.0f %s/s), "
            fmt = fmt "p50 %.2f ms, p99 %.2f ms, %d requests, %d not 2xx\n"
            printf fmt, name, conns, secs, rps, rps * per, unit, p50, p99, n, bad + 0
            js = "{\"case\":\"%s\",\"connections\":%d,\"seconds\":%d,"
            js = js "\"requests_per_s\":%.1f,\"items_per_s\":%.1f,\"p50_ms\":%.3f,"
            js = js "\"p99_ms\":%.3f,\"not_2xx\":%d}\n"
            printf js, name, conns, secs, rps, rps * per, p50, p99, bad + 0 > "/dev/stderr"
        }
    ' "$W/$1.wrk"
}
{
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus;" \
        "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    case_run exact "$RCONNS" 1 "$W/exact.lua" /v1/recall
    case_run ivf "$RCONNS" 1 "$W/ivf.lua" /v1/recall
    for np in $NPROBES; do
        case_run "ivf-np$np" "$RCONNS" 1 "$W/ivf-np$np.lua" /v1/recall
    done
    case_run events "$ECONNS" 100 "$W/events.lua" /v1/events
} 2>"$OUT/serve.json" | tee "$OUT/serve.md"
{
    sed -n 's/.*serve: \(index: .*\)/\1/p' "$W/serve.log"
    # shellcheck disable=SC2086
    python3 bench/serve_recall.py "http://127.0.0.1:$port" "$W/recall-users" 100 $CURVE
} | tee -a "$OUT/serve.md"
acked=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^fedrecall_serve_events_total //p')
lines=$(($(wc -l <"$W/events/events.csv") - 1))
echo "events acknowledged $acked, rows in the log $lines" | tee -a "$OUT/serve.md"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
[ "$acked" -le "$lines" ]
