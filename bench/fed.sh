#!/bin/sh
# The federation on one machine, a coordinator and its nodes over mutual TLS on
# loopback (docs/benchmarks.md, "Federation"):
#   quality   ml-latest-small split over 3 nodes (by default users dealt round-robin,
#             disjoint thirds; FR_FED_SPLIT below), R rounds of E local epochs; the final
#             global model's test metrics against central training on all the data for
#             R x E epochs, same configuration, per seed;
#   value     (not in the default steps) for every split in FR_FED_SPLIT and every site:
#             its own users' test metrics under (a) a model trained on the site's data
#             alone for R x E epochs, (b) the federated model (R rounds x E local epochs),
#             (c) the central model (all data, R x E epochs); bench/out/fed/value.md, mean
#             and spread over seeds. Per split and seed, one federation, one alone-model
#             per site and one central training (shared by the splits): about 30 s per
#             split and seed at 20 rounds on 2 vCPUs;
#   bytes     what a node sends and receives per round against the model's parameter
#             bytes: HTTP bodies from the node's log, and with strace the bytes its
#             socket calls moved (TLS records, handshakes and HTTP headers included);
#   agg       the coordinator's aggregation speed (bench/agg_bench.c);
#   overhead  a round's wall time beyond the slowest node's training, 3 and 20 nodes on
#             generated data, from the coordinator's store and the nodes' logs (plain
#             rounds);
#   secagg    the same federation of 10 nodes with secure aggregation off and on,
#             alternating FR_FED_SECAGG_REPEATS (3) times: the round period of each, so
#             the difference is what secure rounds add.
# Results in bench/out/fed/, summary in bench/out/fed/summary.md.
#
# Knobs (environment): FR_BENCH_DATA (ml-latest-small folder, or a folder holding one
# sasrec file such as toys-games, converted to movielens-csv in a temporary folder),
# FR_FED_ROUNDS (20), FR_FED_LOCAL_EPOCHS (1; "auto" leaves the task's local epochs to
# the coordinator's default, one per site), FR_FED_CENTRAL_EPOCHS (the central and
# alone trainings' epochs; default rounds x local epochs), FR_FED_SEEDS ("1 2 3"), FR_FED_NODES (nodes of the quality
# and value runs, 3), FR_FED_COORD_ARGS (more coordinator options for the quality and
# value runs, e.g. "--aggregator fedadam"), FR_FED_STEPS ("quality agg overhead secagg";
# add "value" for the value table; "" only summarises FR_FED_OUT again),
# FR_FED_OVERHEAD_ROUNDS (10), FR_FED_OUT (bench/out/fed), FR_FED_DP_EPSILON (unset:
# the quality and value runs' nodes train without DP; a number: user-level DP-SGD at
# that budget per node, spread over the run's rounds), FR_FED_RECIPE (tuned: the
# training recipe of the federation's task, the central and the alone trainings alike,
# each with the recipe's K and lr; peer: the spec's benchmark configuration, K 128,
# lr 1e-3, as before the federation carried recipes), FR_FED_CENTRAL_FROM (unset: the
# quality step trains the central models; a folder of an earlier quality run on the same
# data, recipe, seeds and central epochs: its central figures are reused, for comparing
# federation options without retraining central).
# The sites' data (bench/fed_split.py, deterministic per seed): FR_FED_SPLIT ("users")
# is one or more of
#   users  users dealt round-robin (the original split);
#   items  skewed: each movie's first genre is a group, each group's movies spread over
#          the sites by a Dirichlet(FR_FED_ALPHA) draw (0.3; smaller is more skewed), each
#          user at the site holding most of their ratings (no site under a quarter of an
#          even share of users; sites numbered largest first);
#   sizes  sites of unequal size, users shuffled and cut by FR_FED_SIZES ("60 30 10" for
#          3 sites, halving shares otherwise).
# The quality step uses the first split listed; the value step every one.
# Optional tools: strace (socket bytes), /usr/bin/time (the nodes' CPU seconds).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
COORD="$BUILD/fedrecall-coordinator"
CA=certs/fedrecall-ca
DATA=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
ROUNDS=${FR_FED_ROUNDS:-20}
LOCAL=${FR_FED_LOCAL_EPOCHS:-1}
SEEDS=${FR_FED_SEEDS:-1 2 3}
NODES=${FR_FED_NODES:-3}
COORD_ARGS=${FR_FED_COORD_ARGS:-}
SPLITS=${FR_FED_SPLIT:-users}
ALPHA=${FR_FED_ALPHA:-0.3}
SIZES=${FR_FED_SIZES:-}
STEPS=${FR_FED_STEPS-quality agg overhead secagg}
OROUNDS=${FR_FED_OVERHEAD_ROUNDS:-10}
OUT=${FR_FED_OUT:-bench/out/fed}
RECIPE=${FR_FED_RECIPE:-tuned}
CENTRAL_FROM=${FR_FED_CENTRAL_FROM:-}
PY=/usr/bin/python3

SRC_DATA=$DATA # as named, for the titles (a sasrec folder is read through a converted copy)
SASREC=""
if [ ! -f "$DATA/ratings.csv" ]; then
    SASREC=$(find "$DATA" -maxdepth 1 -name '*.txt' 2>/dev/null | head -n 1)
    if [ -z "$SASREC" ]; then
        echo "bench/fed: no data at $DATA (set FR_BENCH_DATA to an ml-latest-small folder" \
            "or a folder with one sasrec file)" >&2
        exit 2
    fi
fi
# local epochs per round as a number, for the budget arithmetic: auto is one per site
# (the coordinator's --local-epochs 0)
if [ "$LOCAL" = auto ]; then
    LOCAL_ARG=0 LOCAL=$NODES
else
    LOCAL_ARG=$LOCAL
fi
CENTRAL=${FR_FED_CENTRAL_EPOCHS:-$((ROUNDS * LOCAL))}
# a site alone trains for the federation's wall time: rounds x local epochs on its data
ALONE=$((ROUNDS * LOCAL))
tmp=$(mktemp -d)
pids=""
# Every process started here ends with the script: $pids holds those not yet waited
# for (a coordinator, nodes, and the tracer or timer a node runs under, whose child is
# the node).
cleanup() {
    if [ -n "$pids" ]; then
        for p in $pids; do
            for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do kill "$c" 2>/dev/null || true; done
            kill "$p" 2>/dev/null || true
        done
        sleep 0.5
        for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT"
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

# pki NODES...: a federation CA, the coordinator's certificate, one per node
pki() {
    "$CA" init "$tmp/pki" >/dev/null
    "$CA" issue-coordinator "$tmp/pki" 127.0.0.1 localhost >/dev/null
    for n in "$@"; do "$CA" issue-node "$tmp/pki" "$n" >/dev/null; done
}

# split SRC PARTS DEST: SRC's users dealt round-robin (in order of first appearance)
# into DEST/part1..PARTS, each with the full item file; CRLF lines pass through as read
split_users() {
    for i in $(seq 1 "$2"); do
        mkdir -p "$3/part$i"
        cp "$1/movies.csv" "$3/part$i/"
        awk -F, -v p="$2" -v i="$i" \
            'NR == 1 {print; next} !($1 in part) {part[$1] = n++ % p} part[$1] == i - 1' \
            "$1/ratings.csv" >"$3/part$i/ratings.csv"
    done
}

# split_sites SPLIT SRC PARTS DEST SEED: the quality and value runs' sites (fed_split.py)
split_sites() {
    "$PY" bench/fed_split.py "$2" "$3" "$4" --split "$1" --seed "$5" --alpha "$ALPHA" \
        --sizes "$SIZES" | sed 's/^/  /'
}

# federate NAME NODES PARTS INIT SEED COORD-OPTIONS...: a coordinator on a free port
# with INIT as version 0, NODES nodes (node i on PARTS/part<i>, seed SEED*100+i, one
# thread) until the federation ends; logs, node logs and the store's round timings go
# to $OUT/NAME/. With TRACE=1 node 1 runs under strace (its socket calls); with CPU=1
# every node runs under /usr/bin/time (its CPU seconds).
federate() {
    name=$1 nn=$2 parts=$3 init=$4 seed=$5
    shift 5
    st="$tmp/$name"
    od="$OUT/$name"
    mkdir -p "$st/state" "$od"
    "$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" \
        --key "$tmp/pki/coordinator.key" --ca "$tmp/pki/ca.crt" --crl "$tmp/pki/crl.pem" \
        --state-dir "$st/state" --initial-model "$init" --retry 1 "$@" 2>"$od/coordinator.log" &
    cpid=$!
    pids="$pids $cpid"
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$od/coordinator.log")
        [ -n "$port" ] && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "bench/fed: coordinator did not start" >&2
        cat "$od/coordinator.log" >&2
        exit 1
    fi
    npids=""
    for i in $(seq 1 "$nn"); do
        cat >"$st/n$i.conf" <<CONF
coordinator = https://127.0.0.1:$port
cert = $tmp/pki/nodes/n$i.crt
key = $tmp/pki/nodes/n$i.key
ca = $tmp/pki/ca.crt
crl = $tmp/pki/crl.pem
coordinator-key = $st/state/signing.pub
data = $parts/part$i
format = movielens-csv
state-dir = $st/node$i
threads = 1
seed = $((seed * 100 + i))
max-backoff = 2
require-secure-aggregation = false
CONF
        if [ -n "${FR_FED_DP_EPSILON:-}" ] && [ "${PLAIN:-0}" = 0 ]; then
            # user-level DP-SGD, the budget planned over the federation's rounds
            printf 'dp = on\ndp-epsilon-max = %s\nmax-rounds = %s\n' "$FR_FED_DP_EPSILON" \
                "$ROUNDS" >>"$st/n$i.conf"
        else
            # the benchmark's own settings, not a node's defaults: its quality runs
            # compare with non-private central training, and its overhead runs are plain
            echo "dp = off" >>"$st/n$i.conf"
        fi
        if [ "$i" = 1 ] && [ "${TRACE:-0}" = 1 ]; then
            strace -f -qq -e trace=sendto,recvfrom,sendmsg,recvmsg -e signal=none -s 0 \
                -o "$od/n1.strace" "$NODE" run --config "$st/n$i.conf" >"$od/n$i.log" 2>&1 &
        elif [ "${CPU:-0}" = 1 ] && [ -x /usr/bin/time ]; then
            /usr/bin/time -f "%U %S" -o "$od/n$i.cpu" \
                "$NODE" run --config "$st/n$i.conf" >"$od/n$i.log" 2>&1 &
        else
            "$NODE" run --config "$st/n$i.conf" >"$od/n$i.log" 2>&1 &
        fi
        npids="$npids $!"
        pids="$pids $!"
    done
    # until every node has ended; one that fails ends the benchmark (the coordinator
    # would wait for it for ever), and so does a federation still running after an hour
    waited=0
    while [ -n "$npids" ]; do
        left=""
        for p in $npids; do
            if kill -0 "$p" 2>/dev/null; then left="$left $p"; continue; fi
            pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ') # waited for
            if ! wait "$p"; then
                echo "bench/fed: $name: a node failed:" >&2
                tail -q -n 2 "$od"/n*.log >&2
                exit 1
            fi
        done
        npids=$left
        [ -z "$npids" ] && break
        waited=$((waited + 1))
        if [ "$waited" -ge 18000 ]; then
            echo "bench/fed: $name: nodes still running after an hour" >&2
            exit 1
        fi
        sleep 0.2
    done
    # the coordinator's CPU seconds (user, system) over the run
    awk -v hz="$(getconf CLK_TCK)" '{print $14 / hz, $15 / hz}' "/proc/$cpid/stat" \
        >"$od/coordinator.cpu"
    kill "$cpid"
    wait "$cpid" || true
    pids=""
    "$COORD" report --state-dir "$st/state" >"$od/report.txt"
    # the rounds' opening and publishing times and each update's arrival, from the store
    "$PY" - "$st/state/coordinator.db" "$od" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with open(sys.argv[2] + "/rounds.txt", "w") as f:
    for r in db.execute("SELECT id, status, opened_at, closed_at, updates FROM rounds ORDER BY id"):
        print(*r, file=f)
with open(sys.argv[2] + "/updates.txt", "w") as f:
    for r in db.execute("SELECT round, node, received_at FROM updates ORDER BY round, received_at"):
        print(*r, file=f)
PYEOF
    # shellcheck disable=SC2012 # the names are the coordinator's model-NNNNNN.frm
    last=$(ls "$st/state/models" | sed -n 's/^model-0*\([0-9][0-9]*\)\.frm$/\1/p' |
        sort -n | tail -n 1)
    cp "$st/state/models/model-$(printf %06d "$last").frm" "$od/final.frm"
    wc -c <"$st/state/models/model-000000.frm" | tr -d ' ' >"$od/model_bytes.txt"
}

# evaluate MODEL DATA OUT.json: the test metrics of the sampled protocol (candidate
# seed 1), the data mapped onto the model's items
evaluate() {
    "$NODE" eval --model "$1" --data "$2" --format movielens-csv --model-catalogue \
        --metrics-out "$3" | awk '$1 == "test" {print "  " $0}'
}

# a sasrec file ("user item" lines in each user's order) as a movielens-csv folder in
# $tmp: the line number is the timestamp, so each user's order is kept; movies.csv
# lists the items with neither title nor genre (no content tokens, as the sasrec
# format reads them; the skewed split then groups items by hash)
if [ -n "$SASREC" ]; then
    mkdir -p "$tmp/data"
    awk 'BEGIN {print "userId,movieId,rating,timestamp"} NF >= 2 {print $1 "," $2 ",1," NR}' \
        "$SASREC" >"$tmp/data/ratings.csv"
    awk 'NF >= 2 && !($2 in seen) {seen[$2] = 1; print $2}' "$SASREC" | sort -n |
        awk 'BEGIN {print "movieId,title,genres"} {print $1 ",,"}' >"$tmp/data/movies.csv"
    DATA="$tmp/data"
fi


echo "== machine"
[ -n "$STEPS" ] && {
    grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
    echo "cpus: $(nproc)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

# the programs as they are now: a rebuild while the benchmark runs must not change them
mkdir -p "$tmp/bin"
cp "$NODE" "$COORD" "$tmp/bin/"
NODE="$tmp/bin/$(basename "$NODE")"
COORD="$tmp/bin/$(basename "$COORD")"
# shellcheck disable=SC2046 # one argument per node name
if has quality || has value || has overhead || has secagg; then pki $(seq 1 20 | sed 's/^/n/'); fi

if has quality; then
    echo "== quality: $SRC_DATA over $NODES node(s), $ROUNDS rounds x $LOCAL local epoch(s)" \
        "${COORD_ARGS:+($COORD_ARGS) }against $CENTRAL central epochs, seeds $SEEDS"
    if [ -n "$CENTRAL_FROM" ] &&
        [ "$(cat "$CENTRAL_FROM/central_epochs.txt" 2>/dev/null)" != "$CENTRAL" ]; then
        echo "bench/fed: $CENTRAL_FROM holds no central figures of $CENTRAL epochs" >&2
        exit 2
    fi
    rm -rf "$OUT"/quality_s* "$OUT"/*_eval_s*.json
    split=${SPLITS%% *}
    echo "$split" >"$OUT/quality_split.txt"
    echo "$CENTRAL" >"$OUT/central_epochs.txt"
    # the training configuration, the same for the federation's task and central training
    # (the recipe's learning-rate schedule spans the rounds there, the epochs here)
    TASK="--batch 128 --seq-len 50 --recipe $RECIPE"
    first=$(echo "$SEEDS" | cut -d' ' -f1)
    for s in $SEEDS; do
        "$NODE" init-model --items "$DATA" --format movielens-csv --seed "$s" \
            --out "$tmp/init_s$s.frm" >/dev/null
        echo "seed $s: split $split"
        split_sites "$split" "$DATA" "$NODES" "$tmp/ml_s$s" "$s"
        TRACE=0
        [ "$s" = "$first" ] && command -v strace >/dev/null && TRACE=1
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        federate "quality_s$s" "$NODES" "$tmp/ml_s$s" "$tmp/init_s$s.frm" "$s" --min-nodes "$NODES" \
            --rounds "$ROUNDS" --local-epochs "$LOCAL_ARG" $TASK $COORD_ARGS
        t1=$(date +%s.%N)
        echo "seed $s: federation $(elapsed "$t0" "$t1") s"
        evaluate "$OUT/quality_s$s/final.frm" "$DATA" "$OUT/fed_eval_s$s.json"
        if [ -n "$CENTRAL_FROM" ]; then
            cp "$CENTRAL_FROM/central_eval_s$s.json" "$OUT/central_eval_s$s.json"
            continue
        fi
        # shellcheck disable=SC2086
        "$NODE" train --data "$DATA" --format movielens-csv --epochs "$CENTRAL" $TASK \
            --seed "$s" --time-only --model-out "$OUT/central_s$s.frm" | tail -n 1
        evaluate "$OUT/central_s$s.frm" "$DATA" "$OUT/central_eval_s$s.json"
        rm -f "$OUT/central_s$s.frm"
    done
fi

if has value; then
    echo "== value: $SRC_DATA over $NODES site(s), splits $SPLITS, seeds $SEEDS: each site's" \
        "users under its alone-model ($ALONE epochs), the federated model" \
        "($ROUNDS rounds x $LOCAL) and the central model ($CENTRAL epochs)"
    rm -rf "$OUT"/value_* "$OUT/value.md"
    TASK="--batch 128 --seq-len 50 --recipe $RECIPE"
    tv0=$(date +%s.%N)
    TRACE=0
    for s in $SEEDS; do
        # the central model does not depend on the split: one per seed
        # shellcheck disable=SC2086
        "$NODE" train --data "$DATA" --format movielens-csv --epochs "$CENTRAL" $TASK \
            --seed "$s" --time-only --model-out "$tmp/value_central_s$s.frm" | tail -n 1
        "$NODE" init-model --items "$DATA" --format movielens-csv --seed "$s" \
            --out "$tmp/value_init_s$s.frm" >/dev/null
        for split in $SPLITS; do
            vd="$OUT/value_${split}_s$s"
            mkdir -p "$vd"
            echo "seed $s, split $split:"
            split_sites "$split" "$DATA" "$NODES" "$tmp/value_${split}_s$s" "$s"
            cp "$tmp/value_${split}_s$s/split.txt" "$vd/"
            # shellcheck disable=SC2086
            federate "value_${split}_s$s/fed" "$NODES" "$tmp/value_${split}_s$s" \
                "$tmp/value_init_s$s.frm" "$s" --min-nodes "$NODES" --rounds "$ROUNDS" \
                --local-epochs "$LOCAL_ARG" $TASK $COORD_ARGS
            for i in $(seq 1 "$NODES"); do
                part="$tmp/value_${split}_s$s/part$i"
                # the site alone: its own data, the same epochs, one thread like its node
                # shellcheck disable=SC2086
                "$NODE" train --data "$part" --format movielens-csv --epochs "$ALONE" \
                    $TASK --seed $((s * 100 + i)) --threads 1 --time-only \
                    --state-dir "$tmp/value_alone_state" \
                    --model-out "$tmp/value_alone.frm" >/dev/null
                for m in alone fed central; do
                    case $m in
                        alone) model="$tmp/value_alone.frm" ;;
                        fed) model="$vd/fed/final.frm" ;;
                        central) model="$tmp/value_central_s$s.frm" ;;
                    esac
                    "$NODE" eval --model "$model" --data "$part" --format movielens-csv \
                        --model-catalogue --metrics-out "$vd/site${i}_$m.json" >/dev/null
                done
                "$PY" -c 'import json, sys
t = [json.load(open(f))["test"] for f in sys.argv[2:]]
print("  site %s: HR@10 alone / fed / central %s" % (sys.argv[1],
      " / ".join("%.4f" % x["hr@10"] for x in t)))' "$i" \
                    "$vd/site${i}_alone.json" "$vd/site${i}_fed.json" "$vd/site${i}_central.json"
            done
            rm -f "$vd/fed/final.frm"
        done
    done
    echo "value: $(elapsed "$tv0" "$(date +%s.%N)") s in all"
    "$PY" - "$OUT" "$ROUNDS" "$LOCAL" "$CENTRAL" <<'PYEOF' | tee "$OUT/value.md"
import glob, json, os, re, statistics as stat, sys
out, rounds, local, central = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runs = {}  # split -> seed -> folder
for d in glob.glob(f"{out}/value_*_s*"):
    m = re.match(r"value_(\w+)_s(\d+)$", os.path.basename(d))
    if m:
        runs.setdefault(m[1], {})[int(m[2])] = d
keys = [("hr@10", "HR@10"), ("ndcg@10", "NDCG@10"), ("recall@10", "HR@10 full"),
        ("ndcg_full@10", "NDCG@10 full")]
models = [("alone", "alone"), ("fed", "federated"), ("central", "central")]
seeds = sorted({s for v in runs.values() for s in v})
print(f"### The value table: each site's own users, test split ({rounds} rounds x {local} local "
      f"epoch(s) against {rounds * local} epochs alone and {central} central; mean ± spread "
      f"(max - min) over seeds {', '.join(map(str, seeds))})\n")
print("HR@10 and NDCG@10: sampled protocol (100 negatives from the model's items); "
      "full: ranked against all the model's items (HR@10 full is recall@10 with one "
      "held-out item). Each cell: alone / federated / central.\n")
print("| split | site | users (seeds) | " + " | ".join(k[1] for k in keys) +
      " | federated beats alone (HR@10, seeds) |")
print("|---|---|---|" + "---|" * len(keys) + "---|")
def ms(v):
    m = sum(v) / len(v)
    return f"{m:.4f} ± {max(v) - min(v):.4f}" if len(v) > 1 else f"{m:.4f}"
for split in sorted(runs, key=lambda x: ["users", "items", "sizes"].index(x)
                    if x in ("users", "items", "sizes") else 9):
    byseed = runs[split]
    sites = sorted({int(re.match(r"site(\d+)_", os.path.basename(f))[1])
                    for d in byseed.values() for f in glob.glob(f"{d}/site*_fed.json")})
    for i in sites:
        got = {(k, m): [] for k, _ in keys for m, _ in models}
        users, wins, n = [], 0, 0
        for s, d in sorted(byseed.items()):
            t = {m: json.load(open(f"{d}/site{i}_{m}.json"))["test"] for m, _ in models}
            for k, _ in keys:
                for m, _ in models:
                    got[(k, m)].append(t[m][k])
            users.append(str(t["fed"]["users"]))
            wins += t["fed"]["hr@10"] > t["alone"]["hr@10"]
            n += 1
        cells = [" / ".join(ms(got[(k, m)]) for m, _ in models) for k, _ in keys]
        print(f"| {split} | {i} | {', '.join(users)} | " + " | ".join(cells) + f" | {wins} of {n} |")
print()
PYEOF
fi

if has agg; then
    echo "== aggregation: 20 updates of the ml-latest-small model"
    rm -f "$OUT/agg.md"
    mkdir -p "$tmp/agg"
    "$BUILD/bench/agg_bench" --updates 20 --dir "$tmp/agg" | tee "$OUT/agg.md"
fi

# the overhead and secure-aggregation steps time plain training, DP or not above
PLAIN=1
if has overhead; then
    echo "== round overhead: generated data (2,000 users, 500 items), d = 32," \
        "1 local epoch, $OROUNDS rounds"
    rm -rf "$OUT"/overhead_*
    "$NODE" synth --users 2000 --items 500 --clusters 8 --seed 5 --out "$tmp/synth" >/dev/null
    "$NODE" init-model --items "$tmp/synth" --format movielens-csv --dim 32 --filters 32 \
        --out "$tmp/synth_init.frm" >/dev/null
    for nn in 3 20; do
        split_users "$tmp/synth" "$nn" "$tmp/synth$nn"
        t0=$(date +%s.%N)
        CPU=1
        federate "overhead_$nn" "$nn" "$tmp/synth$nn" "$tmp/synth_init.frm" 1 --min-nodes "$nn" \
            --rounds "$OROUNDS" --local-epochs 1 --secure-aggregation off
        CPU=0
        t1=$(date +%s.%N)
        echo "$nn nodes: $OROUNDS rounds in $(elapsed "$t0" "$t1") s"
    done
fi

if has secagg; then
    echo "== secure aggregation's cost per round: 10 nodes, generated data, d = 32," \
        "$OROUNDS rounds, off and on"
    rm -rf "$OUT"/secagg_*
    [ -d "$tmp/synth" ] ||
        "$NODE" synth --users 2000 --items 500 --clusters 8 --seed 5 --out "$tmp/synth" >/dev/null
    [ -f "$tmp/synth_init.frm" ] ||
        "$NODE" init-model --items "$tmp/synth" --format movielens-csv --dim 32 --filters 32 \
            --out "$tmp/synth_init.frm" >/dev/null
    split_users "$tmp/synth" 10 "$tmp/synth10"
    # off and on alternate, so that a change in the machine's load hits both alike
    for rep in $(seq 1 "${FR_FED_SECAGG_REPEATS:-3}"); do
        for mode in off on; do
            federate "secagg_${mode}_$rep" 10 "$tmp/synth10" "$tmp/synth_init.frm" 1 \
                --min-nodes 10 --rounds "$OROUNDS" --local-epochs 1 --secure-aggregation "$mode"
        done
    done
fi

[ -z "$STEPS" ] ||
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
"$PY" - "$OUT" <<'PYEOF' | tee "$OUT/summary.md"
import collections, glob, json, os, re, statistics as stat, sys
out = sys.argv[1]
med = stat.median

def load(p):
    return json.load(open(p)) if os.path.exists(p) else None

def updates_of(d):
    u = {}
    for line in open(f"{d}/updates.txt"):
        i, node, at = line.split()
        u.setdefault(int(i), []).append((node, float(at)))
    return u

def rounds_of(d):
    r = {}
    for line in open(f"{d}/rounds.txt"):
        i, status, opened, closed, n = line.split()
        r[int(i)] = dict(status=status, opened=float(opened), closed=float(closed), n=int(n))
    arr = {}
    for line in open(f"{d}/updates.txt"):
        i, node, at = line.split()
        arr.setdefault(int(i), []).append(float(at))
    return r, arr

def node_logs(d):
    """per node: {round: (train_s, sent_bytes)} and the sizes of installed models"""
    train, down = {}, {}
    for f in sorted(glob.glob(f"{d}/n*.log")):
        n = os.path.basename(f)[:-4]
        for line in open(f):
            m = re.search(r"round (\d+): (?:masked )?update sent (?:and unmasking answered )?"
                          r"\(trained in ([\d.]+) s, .* (\d+) bytes\)", line)
            if m:
                train.setdefault(n, {})[int(m[1])] = (float(m[2]), int(m[3]))
            m = re.search(r"model version (\d+) installed \((\d+) bytes", line)
            if m:
                down.setdefault(n, []).append(int(m[2]))
    return train, down

# ---- quality
seeds = sorted(int(p.split("_s")[-1][:-5]) for p in glob.glob(f"{out}/fed_eval_s*.json"))
if seeds:
    # rounds and local epochs as the run had them: its store and node 1's log
    d = f"{out}/quality_s{seeds[0]}"
    rounds = sum(1 for line in open(f"{d}/rounds.txt") if line.split()[1] == "published")
    local = int(re.search(r"training (\d+) local epoch", open(f"{d}/n1.log").read())[1])
    nodes = len(glob.glob(f"{d}/n*.log"))
    # "fedavg at server rate 1 extrapolated, public key ..." (older coordinators: "fedavg
    # at server rate 1, public key", "fedavg, public key")
    m = re.search(r"parameters, (\w+)(?: at server rate ([^,]+))?, public key",
                  open(f"{d}/coordinator.log").read())
    agg = m[1] + (f" at server rate {m[2]}" if m[2] else "")
    sp = f"{out}/quality_split.txt"
    split = open(sp).read().strip() if os.path.exists(sp) else "users"
    ce = f"{out}/central_epochs.txt"
    central = int(open(ce).read()) if os.path.exists(ce) else rounds * local
    print(f"### Quality: {agg}, {nodes} node(s) (split {split}), {rounds} rounds x {local} local "
          f"epoch(s) against {central} central epochs (test; recall@10 and ndcg_full@10 rank all items)\n")
    # sampled (100 negatives) and full-ranking metrics: recall@10 is HR@10 against
    # every item (one held-out item per user)
    keys = ["hr@10", "ndcg@10", "recall@10", "ndcg_full@10", "recall@50", "coverage@10",
            "novelty@10"]
    print("| seed | " + " | ".join(f"{k}: federated / central" for k in keys) + " |")
    print("|---|" + "---|" * len(keys))
    got = {k: ([], []) for k in keys}
    for s in seeds:
        f = load(f"{out}/fed_eval_s{s}.json")["test"]
        c = load(f"{out}/central_eval_s{s}.json")["test"]
        for k in keys:
            got[k][0].append(f[k]); got[k][1].append(c[k])
        print(f"| {s} | " + " | ".join(f"{f[k]:.4f} / {c[k]:.4f}" for k in keys) + " |")
    mean = lambda v: sum(v) / len(v)
    print("| mean | " + " | ".join(f"**{mean(got[k][0]):.4f} / {mean(got[k][1]):.4f}** "
                                   f"({mean(got[k][0]) - mean(got[k][1]):+.4f})" for k in keys) + " |\n")
    for s in seeds:
        d = f"{out}/quality_s{s}"
        r, arr = rounds_of(d)
        pub = [x for x in r.values() if x["status"] == "published"]
        period = [r[i + 1]["opened"] - r[i]["opened"] for i in r if i + 1 in r]
        train, _ = node_logs(d)
        tr = [max(train[n][i][0] for n in train) for i in r
              if all(i in train[n] for n in train)]
        print(f"seed {s}: {len(pub)} rounds published, round period median {med(period):.2f} s, "
              f"slowest node's training median {med(tr):.2f} s")
    print()

# ---- bytes
q = sorted(glob.glob(f"{out}/quality_s*"))
if q:
    d = q[0]
    train, down = node_logs(d)
    mb = int(open(f"{d}/model_bytes.txt").read())
    m = re.search(r"(\d+) parameters", open(f"{d}/coordinator.log").read())
    params = int(m[1])
    up = sorted({b for n in train for (_, b) in train[n].values()})
    dl = sorted({b for n in down for b in down[n]})
    n_up = sum(len(train[n]) for n in train)
    n_dl = sum(len(down[n]) for n in down)
    print(f"### Bytes per round per node ({os.path.basename(d)}, {params} parameters = "
          f"{4 * params} bytes as float32)\n")
    print(f"| direction | HTTP body | against 4 x parameters | per run ({len(train)} nodes) |")
    print("|---|---|---|---|")
    print(f"| upload (update) | {', '.join(map(str, up))} | {up[0] / (4 * params):.5f}x | "
          f"{n_up} uploads |")
    print(f"| download (signed model file) | {', '.join(map(str, dl))} | {dl[0] / (4 * params):.4f}x | "
          f"{n_dl} downloads (version 0 included) |")
    st = f"{d}/n1.strace"
    if os.path.exists(st):
        sent = recv = 0
        for line in open(st):
            m = re.match(r"\d+\s+(sendto|recvfrom|sendmsg|recvmsg)\(.*\)\s+=\s+(\d+)", line)
            if m and "MSG_PEEK" not in line:  # a peek reads nothing off the socket
                if m[1].startswith("send"):
                    sent += int(m[2])
                else:
                    recv += int(m[2])
        bsent = sum(b for (_, b) in train["n1"].values())
        brecv = sum(down["n1"])
        print(f"| node n1, socket bytes sent over the run | {sent} | "
              f"{sent / bsent:.4f}x its {len(train['n1'])} upload bodies ({bsent}) | |")
        print(f"| node n1, socket bytes received over the run | {recv} | "
              f"{recv / brecv:.4f}x its {len(down['n1'])} model bodies ({brecv}) | |")
    print()

# ---- aggregation
if os.path.exists(f"{out}/agg.md"):
    print("### Aggregation (bench/agg_bench)\n")
    print(open(f"{out}/agg.md").read().split("\n{")[0].strip() + "\n")

# ---- overhead
for d in sorted(glob.glob(f"{out}/overhead_*"), key=lambda p: int(p.rsplit("_", 1)[1])):
    nn = int(d.rsplit("_", 1)[1])
    r, arr = rounds_of(d)
    upd = updates_of(d)
    train, _ = node_logs(d)
    rows = []
    for i in sorted(r):
        if i == 1 or r[i]["status"] != "published" or i not in arr:
            continue  # round 1 also waits for the nodes to start and load their data
        ts = [train[n][i][0] for n in train if i in train[n]]
        if len(ts) != nn:
            continue
        o, c = r[i]["opened"], r[i]["closed"]
        first, last = min(arr[i]), max(arr[i])
        nxt = r[i + 1]["opened"] - c if i + 1 in r else None
        # the node whose update came last: its time in the round beyond its training
        # (waiting for its poll, the download, evaluating the new model, the upload)
        lastnode = max(upd[i], key=lambda x: x[1])[0]
        rows.append(dict(wall=c - o, slow=max(ts), fast=min(ts), sumtr=sum(ts),
                         first=first - o, last=last - o,
                         pub=c - last, gap=nxt, lastrest=last - o - train[lastnode][i][0]))
    if not rows:
        continue
    g = lambda k: med([x[k] for x in rows if x[k] is not None])
    print(f"### Round overhead, {nn} nodes (median over rounds 2-{max(r)}, {len(rows)} rounds)\n")
    print("| open -> publish | slowest node's training | overhead | open -> first update | "
          "open -> last update | last node: beyond its training | last update -> publish | "
          "publish -> next open |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {g('wall'):.3f} s | {g('slow'):.3f} s | **{med([x['wall'] - x['slow'] for x in rows]):.3f} s** | "
          f"{g('first'):.3f} s | {g('last'):.3f} s | {g('lastrest'):.3f} s | {g('pub'):.3f} s | "
          f"{g('gap'):.3f} s |")
    period = [r[i + 1]["opened"] - r[i]["opened"] for i in r if i > 1 and i + 1 in r]
    spread = sorted(collections.Counter(f"{p:.2f}" for p in period).items())
    print(f"\nround periods (open -> next open): "
          + ", ".join(f"{p} s x {k}" for p, k in spread))
    print(f"\nround period median {med(period):.3f} s; fastest node's "
          f"training median {g('fast'):.3f} s, sum of the nodes' training times "
          f"{g('sumtr'):.3f} s per round", end="")
    cpus = glob.glob(f"{d}/n*.cpu")
    if len(cpus) == nn:  # every node ran under /usr/bin/time
        cpu = sum(sum(map(float, open(f).read().split()[:2])) for f in cpus)
        ccpu = sum(map(float, open(f"{d}/coordinator.cpu").read().split()))
        ncpu = os.cpu_count()
        print(f"; CPU over the whole run (startup included): nodes {cpu:.1f} s, coordinator "
              f"{ccpu:.1f} s, {(cpu + ccpu) / max(r):.3f} CPU-s per round = "
              f"{(cpu + ccpu) / max(r) / ncpu:.3f} s of the {ncpu} cores' wall time", end="")
    print("\n")
# ---- secure aggregation's cost
per = {}
for mode in ("off", "on"):
    p, w, pub, runs = [], [], 0, 0
    for d in glob.glob(f"{out}/secagg_{mode}_*"):
        if not os.path.exists(f"{d}/rounds.txt"):
            continue
        r, _ = rounds_of(d)
        runs += 1
        p += [r[i + 1]["opened"] - r[i]["opened"] for i in r if i > 1 and i + 1 in r]
        w += [r[i]["closed"] - r[i]["opened"] for i in r
              if i > 1 and r[i]["status"] == "published"]
        pub += sum(1 for i in r if r[i]["status"] == "published")
    if p and w:
        per[mode] = (med(p), med(w), pub, runs)
if len(per) == 2:
    print(f"### Secure aggregation's cost per round, 10 nodes (medians over rounds 2 on of "
          f"{per['on'][3]} alternating runs each)\n")
    print("| rounds | round period (open -> next open) | open -> publish | published (all runs) |")
    print("|---|---|---|---|")
    for mode in ("off", "on"):
        print(f"| secure aggregation {mode} | {per[mode][0]:.3f} s | {per[mode][1]:.3f} s | "
              f"{per[mode][2]} |")
    print(f"\nsecure rounds take {per['on'][0] / per['off'][0]:.3f}x the plain round period "
          f"({(per['on'][0] - per['off'][0]) * 1000:+.0f} ms per round)\n")
PYEOF
