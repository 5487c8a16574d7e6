#!/bin/sh
# The recall service under load (docs/benchmarks.md, "Recall service"): wrk against
# fedrecall-node serve on loopback, on a generated catalogue of 100,000 items at
# d = 64 (synth + init-model) with 20,000 users.
# Two servers on the same data and model: one builds the inverted-file index (--index
# ivf, its default nlist and nprobe), the other the 8-bit copy for the int8 scan
# (--scan int8, its default candidates); the idle one costs nothing while the other is
# measured.
#   exact      GET /v1/recall?user=U&k=100&exact=1 for random users of the data (model
#              strategy, exact search: the float scan of every item)
#   int8       GET /v1/recall?user=U&k=100 on the int8 server (8-bit scan, exact
#              re-rank)
#   ivf        the same through the index at its default nprobe
#   ivf-npN    the same reading N lists (N in FR_BENCH_SERVE_NPROBES, "64 24")
#   events     POST /v1/events, 100 JSON lines a request, acknowledged once synced
# Then recall@100 against exact search over 500 users of the data: the int8 scan's,
# and the index's at each nprobe of FR_BENCH_SERVE_CURVE (bench/serve_recall.py); and
# the build times of the index and of the 8-bit copy (the servers' logs).
# Each case runs FR_BENCH_SERVE_SECONDS (10) with FR_BENCH_SERVE_CONNS connections
# (recall 32, events 16), wrk on one thread, FR_BENCH_SERVE_REPEATS times (3): the
# cases take turns, round after round, so that the load of other work on the machine
# falls on all of them alike. Each run's line gives the load average just before it;
# then one line per case gives the medians over its runs, column by column. Written
# to bench/out/serve.md (and bench/out/serve.json, one object per run and per median).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
SECS=${FR_BENCH_SERVE_SECONDS:-10}
RCONNS=${FR_BENCH_SERVE_CONNS:-32}
NPROBES=${FR_BENCH_SERVE_NPROBES:-64 24}
CURVE=${FR_BENCH_SERVE_CURVE:-8 24 64 128 160 200 316}
ECONNS=${FR_BENCH_SERVE_EVENT_CONNS:-16}
REPEATS=${FR_BENCH_SERVE_REPEATS:-3}
CASES=${FR_BENCH_SERVE_CASES:-}
OUT=bench/out
W="$OUT/serve"
FR_WITH_BENCH=1 deploy/install-deps.sh
mkdir -p "$OUT"
rm -rf "$W"
mkdir -p "$W"
pid=
qpid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; [ -z "$qpid" ] || kill "$qpid" 2>/dev/null' EXIT

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

# start_server LOG ARGS...: serve in the background; sets spid and sport (from the log)
start_server() {
    log=$1
    shift
    "$NODE" serve --model "$W/model.frm" --data "$W/data" --format movielens-csv \
        --listen 127.0.0.1:0 --k-max 100 "$@" 2>"$log" &
    spid=$!
    sport=
    i=0
    while [ -z "$sport" ] && [ $i -lt 600 ] && kill -0 "$spid" 2>/dev/null; do
        sport=$(sed -n 's/.*listening on .*, port \([0-9]*\) .*/\1/p' "$log")
        [ -n "$sport" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$sport" ] || {
        echo "bench: serve did not start" >&2
        cat "$log" >&2
        kill "$spid" 2>/dev/null
        exit 1
    }
    curl -sf "http://127.0.0.1:$sport/v1/recall?user=$(head -n 1 "$W/users")&k=100" >/dev/null
}
start_server "$W/serve.log" --events-log "$W/events" --index ivf
pid=$spid
port=$sport
start_server "$W/serve-int8.log" --scan int8
qpid=$spid
qport=$sport
recall_lua "" >"$W/int8.lua"

# cpu_mark PID FILE: the machine's busy CPU time, PID's and this shell's children's
# (wrk's), in seconds, into FILE
cpu_mark() {
    times >"$2.times"
    {
        awk '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat
        sed 's/.*) //' "/proc/$1/stat" | awk '{ print ($12 + $13) / 100 }'
        awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$2.times"
    } | paste -sd' ' >"$2"
}
# case_run NAME CONNS PER_REQUEST SCRIPT PATH PORT PID RUN: one wrk run, one summary
# line (and one JSON object on stderr): the load average before it, and the cores that
# other work (neither the server nor wrk) kept busy during it
case_run() {
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    cpu_mark "$7" "$W/cpu0"
    wrk -t1 -c"$2" -d"${SECS}s" --latency -s "$4" "http://127.0.0.1:$6$5" >"$W/$1.$8.wrk" 2>&1
    cpu_mark "$7" "$W/cpu1"
    other=$(cat "$W/cpu0" "$W/cpu1" | awk -v secs="$SECS" '
        NR == 1 { m = $1; s = $2; w = $3 }
        NR == 2 { printf "%.2f", ($1 - m - ($2 - s) - ($3 - w)) / secs }')
    awk -v name="$1" -v conns="$2" -v per="$3" -v secs="$SECS" -v run="$8" -v load="$load" \
        -v other="$other" '
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
            fmt = "%-10s run %d, load %s, other work %s cores: %3d connections, %ds: "
            fmt = fmt "%8.0f requests/s (%.0f %s/s), p50 %.2f ms, p99 %.2f ms, %d requests, "
            fmt = fmt "%d not 2xx\n"
            printf fmt, name, run, load, other, conns, secs, rps, rps * per, unit, p50, p99, n,
                bad + 0
            js = "{\"case\":\"%s\",\"run\":%d,\"load\":\"%s\",\"other_cores\":%s,"
            js = js "\"connections\":%d,\"seconds\":%d,\"requests_per_s\":%.1f,"
            js = js "\"items_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"not_2xx\":%d}\n"
            printf js, name, run, load, other, conns, secs, rps, rps * per, p50, p99, bad + 0 \
                >"/dev/stderr"
        }
    ' "$W/$1.$8.wrk"
}
# median_line NAME: the medians of NAME's runs (from the JSON lines), column by column
median_line() {
    grep "\"case\":\"$1\"," "$OUT/serve.runs.json" | python3 -c '
import json, statistics, sys
runs = [json.loads(line) for line in sys.stdin]
med = {k: statistics.median(r[k] for r in runs)
       for k in ("requests_per_s", "items_per_s", "p50_ms", "p99_ms")}
per = med["items_per_s"] / med["requests_per_s"] if med["requests_per_s"] else 1
unit = "events" if per > 1.5 else "lists"
print("%-10s median of %d: %8.0f requests/s (%.0f %s/s), p50 %.2f ms, p99 %.2f ms; "
      "loads before the runs %s, other work %s cores"
      % (sys.argv[1], len(runs), med["requests_per_s"], med["items_per_s"], unit,
         med["p50_ms"], med["p99_ms"], ", ".join(r["load"].split()[0] for r in runs),
         ", ".join("%.2f" % r["other_cores"] for r in runs)))
med.update(case=sys.argv[1], runs=len(runs), median=True)
print(json.dumps(med), file=sys.stderr)' "$1"
}
# the cases: NAME CONNS PER_REQUEST SCRIPT PATH PORT PID
case_list() {
    echo "exact $RCONNS 1 $W/exact.lua /v1/recall $port $pid"
    echo "int8 $RCONNS 1 $W/int8.lua /v1/recall $qport $qpid"
    echo "ivf $RCONNS 1 $W/ivf.lua /v1/recall $port $pid"
    for np in $NPROBES; do
        echo "ivf-np$np $RCONNS 1 $W/ivf-np$np.lua /v1/recall $port $pid"
    done
    echo "events $ECONNS 100 $W/events.lua /v1/events $port $pid"
}
case_list | while read -r name _; do
    [ -z "$CASES" ] || case " $CASES " in *" $name "*) ;; *) continue ;; esac
    echo "$name"
done >"$W/cases"
{
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus;" \
        "$REPEATS runs of each case, taking turns"
    r=1
    while [ $r -le "$REPEATS" ]; do
        case_list | while read -r name conns per script path p sp; do
            grep -qx "$name" "$W/cases" || continue
            case_run "$name" "$conns" "$per" "$script" "$path" "$p" "$sp" "$r"
        done
        r=$((r + 1))
    done
} 2>"$OUT/serve.runs.json" | tee "$OUT/serve.md"
while read -r name; do
    median_line "$name"
done <"$W/cases" 2>"$OUT/serve.json" | tee -a "$OUT/serve.md"
cat "$OUT/serve.runs.json" >>"$OUT/serve.json"
{
    sed -n 's/.*serve: \(index: .*\)/\1/p' "$W/serve.log"
    sed -n 's/.*serve: \(scan: .*\)/\1/p' "$W/serve-int8.log"
    python3 bench/serve_recall.py "http://127.0.0.1:$qport" "$W/recall-users" 100 default |
        sed 's/^search default/int8 scan:/'
    # shellcheck disable=SC2086
    python3 bench/serve_recall.py "http://127.0.0.1:$port" "$W/recall-users" 100 $CURVE
} | tee -a "$OUT/serve.md"
acked=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^fedrecall_serve_events_total //p')
lines=$(($(wc -l <"$W/events/events.csv") - 1))
echo "events acknowledged $acked, rows in the log $lines" | tee -a "$OUT/serve.md"
kill "$pid" "$qpid"
wait "$pid" "$qpid" 2>/dev/null || true
pid=
qpid=
[ "$acked" -le "$lines" ]
