#!/bin/sh
# Cold start in a living catalogue (docs/benchmarks.md, "Cold start"): ml-latest-small
# with the newest 10% of its movies (the highest movieIds) held out of the initial
# catalogue. Three nodes (users dealt round-robin, each with the whole movies.csv, so
# their events on the held-out movies are dropped as unknown_item) train W rounds; the
# operator then adds the held-out movies (`fedrecall-coordinator catalogue add`), and
# the next published version carries their rows (ID rows zero, content from the shared
# tokens). The held-out movies' recall is measured on the users whose test item (last
# rating) is one of them, with `fedrecall-node eval --cold-items`:
#   before  version W+1: the first with the new rows, no node has trained on them yet
#           (content only);
#   after 1 version W+2: one round in which the nodes' data holds their events;
#   after 5 version W+6.
# Recall@10/50 in the full ranking (every item the user has not rated competes) and in
# the cold channel's (only the held-out movies compete, as `recall --cold-start`).
# Knobs: FR_BENCH_DATA (ml-latest-small), FR_COLD_WARM (W = 10 rounds), FR_COLD_SEEDS
# ("1 2 3"), FR_COLD_OUT (bench/out/cold). Plain rounds (secure aggregation off: the sum
# is the same, the rounds faster), FedAvg, the federation benchmark's task.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
COORD="$BUILD/fedrecall-coordinator"
CA=certs/fedrecall-ca
DATA=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
W=${FR_COLD_WARM:-10}
SEEDS=${FR_COLD_SEEDS:-1 2 3}
OUT=${FR_COLD_OUT:-bench/out/cold}
mkdir -p "$OUT"
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# the held-out movies: the highest 10% of movieIds
tail -n +2 "$DATA/movies.csv" | cut -d, -f1 | sort -n >"$tmp/ids"
total=$(wc -l <"$tmp/ids")
held=$((total / 10))
tail -n "$held" "$tmp/ids" >"$OUT/new-ids.txt"
mkdir -p "$tmp/cat0" "$tmp/new"
awk -F, 'NR == FNR {new[$1] = 1; next} FNR == 1 || !($1 in new)' "$OUT/new-ids.txt" \
    "$DATA/movies.csv" >"$tmp/cat0/movies.csv"
awk -F, 'NR == FNR {new[$1] = 1; next} FNR == 1 || ($1 in new)' "$OUT/new-ids.txt" \
    "$DATA/movies.csv" >"$tmp/new/movies.csv"
for i in 1 2 3; do
    mkdir -p "$tmp/part$i"
    cp "$DATA/movies.csv" "$tmp/part$i/"
    awk -F, -v i="$i" 'NR == 1 {print; next} !($1 in part) {part[$1] = n++ % 3} part[$1] == i - 1' \
        "$DATA/ratings.csv" >"$tmp/part$i/ratings.csv"
done
"$CA" init "$tmp/pki" >/dev/null
"$CA" issue-coordinator "$tmp/pki" 127.0.0.1 localhost >/dev/null
for i in 1 2 3; do "$CA" issue-node "$tmp/pki" "n$i" >/dev/null; done

# coordinator STATE ROUNDS: start it, set port
coordinator() {
    touch "$1.log"
    skip=$(wc -l <"$1.log") # a restart appends to the log of the run before
    "$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" \
        --key "$tmp/pki/coordinator.key" --ca "$tmp/pki/ca.crt" --crl "$tmp/pki/crl.pem" \
        --state-dir "$1" --min-nodes 3 --rounds "$2" --retry 1 --local-epochs 1 --batch 128 \
        --seq-len 50 --negatives 128 --lr 0.001 --recipe peer --secure-aggregation off 2>>"$1.log" &
    cpid=$!
    pids="$pids $cpid"
    port=
    for _ in $(seq 1 200); do
        port=$(tail -n +$((skip + 1)) "$1.log" |
            sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' | tail -n 1)
        [ -n "$port" ] && [ "$port" != 0 ] && return 0
        sleep 0.1
    done
    echo "coordinator did not start" >&2
    exit 1
}
# nodes STATE SEED: run the three nodes until the federation finishes
nodes() {
    np=""
    for i in 1 2 3; do
        cat >"$tmp/n$i.conf" <<CONF
coordinator = https://127.0.0.1:$port
cert = $tmp/pki/nodes/n$i.crt
key = $tmp/pki/nodes/n$i.key
ca = $tmp/pki/ca.crt
crl = $tmp/pki/crl.pem
coordinator-key = $1/signing.pub
data = $tmp/part$i
format = movielens-csv
state-dir = $1-n$i
threads = 1
dp = off
require-secure-aggregation = off
seed = $((100 * $2 + i))
CONF
        "$NODE" run --config "$tmp/n$i.conf" >>"$1-n$i.log" 2>&1 &
        np="$np $!"
    done
    for p in $np; do wait "$p"; done
}

echo "seed version stage cold_items users recall10 recall50 cold_recall10 cold_recall50 test_recall50" >"$OUT/results.txt"
for s in $SEEDS; do
    st="$tmp/s$s"
    mkdir -p "$st"
    "$NODE" init-model --items "$tmp/cat0" --format movielens-csv --seed "$s" \
        --out "$st/initial-model.frm" >/dev/null
    t0=$(date +%s)
    coordinator "$st" "$W"
    nodes "$st" "$s"
    kill "$cpid"
    wait "$cpid" 2>/dev/null || true
    "$COORD" catalogue add --state-dir "$st" --items "$tmp/new" --format movielens-csv
    coordinator "$st" $((W + 6))
    nodes "$st" "$s"
    kill "$cpid"
    wait "$cpid" 2>/dev/null || true
    echo "seed $s: $(($(date +%s) - t0)) s for $((W + 6)) rounds" >&2
    for v in $((W + 1)):before $((W + 2)):after1 $((W + 6)):after5; do
        ver=${v%%:*}
        "$NODE" eval --model "$(printf '%s/models/model-%06d.frm' "$st" "$ver")" --data "$DATA" \
            --format movielens-csv --model-catalogue --cold-items "$OUT/new-ids.txt" \
            >"$OUT/eval-s$s-v$ver.txt"
        line=$(grep '^cold test' "$OUT/eval-s$s-v$ver.txt")
        full=$(awk '$1 == "test" {for (i = 1; i < NF; i++) if ($i == "recall@50") print $(i + 1)}' \
            "$OUT/eval-s$s-v$ver.txt")
        echo "$s $ver ${v#*:} $(echo "$line" | sed 's/^cold test *\([0-9]*\) items, \([0-9]*\) users: recall@10 \([0-9.]*\)  recall@50 \([0-9.]*\)  cold-channel recall@10 \([0-9.]*\)  recall@50 \([0-9.]*\)/\1 \2 \3 \4 \5 \6/') $full" >>"$OUT/results.txt"
    done
    grep -h "catalogue version" "$st.log" >&2
done
cat "$OUT/results.txt"
# mean and sample standard deviation over the seeds, per stage
awk 'NR > 1 {k = $3; n[k]++; for (c = 6; c <= 10; c++) {s[k, c] += $c; q[k, c] += $c * $c}; u[k] = $5}
END {
    split("before after1 after5", order, " ")
    printf "\n%-7s %5s  %-15s %-15s %-15s %-15s %-15s\n", "stage", "users", "Recall@10", "Recall@50", "cold R@10", "cold R@50", "all-items R@50"
    for (o = 1; o <= 3; o++) {
        k = order[o]; printf "%-7s %5d ", k, u[k]
        for (c = 6; c <= 10; c++) {
            m = s[k, c] / n[k]; v = n[k] > 1 ? (q[k, c] - n[k] * m * m) / (n[k] - 1) : 0
            printf " %.4f +- %.4f", m, sqrt(v > 0 ? v : 0)
        }
        printf "\n"
    }
}' "$OUT/results.txt" | tee "$OUT/summary.txt"
