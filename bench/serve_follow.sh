#!/bin/sh
# How long the recall service takes to follow a grown catalogue (docs/catalogue.md,
# "Nodes follow"): a service on 3000 items and a behaviour log of R rows (one in ten
# on the 1000 items to come) has its model file replaced by one of 4000 items; the
# time from the rename to /v1/health showing 4000 items covers the watcher's poll
# (20 ms), the model load and the loop's replay of the log. Runs a 1-row and a
# 1,000,000-row log alternately, RUNS times each (default 3), and prints each time
# and the medians. Usage: bench/serve_follow.sh [RUNS]
set -u
cd "$(dirname "$0")/.." || exit 1
NODE=${BUILD:-build}/fedrecall-node
runs=${1:-3}
tmp=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
"$NODE" synth --users 2000 --items 4000 --clusters 4 --seed 3 --out "$tmp/data" >/dev/null 2>&1 || exit 1
mkdir -p "$tmp/cat0"
head -n 3001 "$tmp/data/movies.csv" >"$tmp/cat0/movies.csv"
"$NODE" init-model --items "$tmp/cat0" --format movielens-csv --dim 32 --filters 32 \
    --out "$tmp/m3000.frm" >/dev/null || exit 1
"$NODE" init-model --items "$tmp/data" --format movielens-csv --dim 32 --filters 32 \
    --out "$tmp/m4000.frm" >/dev/null || exit 1

# one_run ROWS: prints the milliseconds from the rename to the followed catalogue
one_run() {
    rm -rf "$tmp/log" "$tmp/srv" "$tmp/serve.log"
    mkdir -p "$tmp/log" "$tmp/srv"
    awk -F, -v n="$1" 'NR > 1 {id[NR - 1] = $1}
        END {print "user_id,item_id,timestamp,event,value"; srand(1)
             for (i = 0; i < n; i++) {
                 r = (i % 10 == 0) ? 3001 + int(rand() * 999) : 1 + int(rand() * 2999)
                 printf "\"u%d\",\"%s\",%d,,\n", int(rand() * 5000), id[r], 1600000000 + i}}' \
        "$tmp/data/movies.csv" >"$tmp/log/events.csv"
    cp "$tmp/m3000.frm" "$tmp/srv/global.frm"
    "$NODE" serve --model "$tmp/srv/global.frm" --data "$tmp/data" --format movielens-csv \
        --seq-len 20 --listen 127.0.0.1:0 --poll-ms 20 --events-log "$tmp/log" 2>"$tmp/serve.log" &
    pid=$!
    port=
    while [ -z "$port" ] && kill -0 "$pid" 2>/dev/null; do
        port=$(sed -n 's/.*listening on .*, port \([0-9]*\) .*/\1/p' "$tmp/serve.log")
        sleep 0.05
    done
    cp "$tmp/m4000.frm" "$tmp/srv/next.frm"
    t0=$(date +%s%N)
    mv "$tmp/srv/next.frm" "$tmp/srv/global.frm"
    i=0
    while ! curl -s "http://127.0.0.1:$port/v1/health" | grep -q '"catalogue_items":4000,' &&
        [ $i -lt 100000 ]; do
        i=$((i + 1))
    done
    t1=$(date +%s%N)
    kill "$pid"
    wait "$pid" 2>/dev/null
    pid=
    echo $(((t1 - t0) / 1000000))
}
: >"$tmp/small"
: >"$tmp/large"
for _ in $(seq 1 "$runs"); do
    one_run 1 >>"$tmp/small"
    one_run 1000000 >>"$tmp/large"
done
med() { sort -n "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "follow, 1-row log:         $(tr '\n' ' ' <"$tmp/small")ms; median $(med "$tmp/small") ms"
echo "follow, 1,000,000-row log: $(tr '\n' ' ' <"$tmp/large")ms; median $(med "$tmp/large") ms"
