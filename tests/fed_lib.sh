# Shared by the federation tests (sourced after cli_lib.sh): a federation CA with a
# coordinator and node certificates, synthetic data split by user over the nodes, and
# starting/stopping a coordinator and nodes on loopback.
COORD="$BUILD/fedrecall-coordinator"
CA=certs/fedrecall-ca
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; [ -n "${FR_KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT

# fed_pki NODES...: CA, coordinator certificate for 127.0.0.1, one certificate per node
fed_pki() {
    "$CA" init "$tmp/pki" >/dev/null &&
        "$CA" issue-coordinator "$tmp/pki" 127.0.0.1 localhost >/dev/null || return 1
    for n in "$@"; do "$CA" issue-node "$tmp/pki" "$n" >/dev/null || return 1; done
}

# fed_data PARTS SYNTH-ARGS...: generated data in $tmp/data, its users split into
# $tmp/part1..PARTS (each with the full item file), and the initial model $tmp/init.frm
fed_data() {
    parts=$1
    shift
    "$NODE" synth --out "$tmp/data" "$@" >/dev/null || return 1
    for i in $(seq 1 "$parts"); do
        mkdir -p "$tmp/part$i"
        cp "$tmp/data/movies.csv" "$tmp/part$i/"
        awk -F, -v p="$parts" -v i="$i" \
            'NR == 1 {print; next} !($1 in part) {part[$1] = n++ % p} part[$1] == i - 1' \
            "$tmp/data/ratings.csv" >"$tmp/part$i/ratings.csv"
    done
    "$NODE" init-model --items "$tmp/data" --format movielens-csv --dim 16 --filters 16 \
        --out "$tmp/init.frm" >/dev/null
}

# fed_start_coord STATE ARGS...: a coordinator on a free port; sets COORD_PID, PORT
fed_start_coord() {
    state=$1
    shift
    mkdir -p "$state"
    [ -f "$state/initial-model.frm" ] || cp "$tmp/init.frm" "$state/initial-model.frm"
    touch "$state.log"
    skip=$(wc -l <"$state.log") # a restart appends to the log of the previous run
    "$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" \
        --key "$tmp/pki/coordinator.key" --ca "$tmp/pki/ca.crt" --crl "$tmp/pki/crl.pem" \
        --state-dir "$state" "$@" 2>>"$state.log" &
    COORD_PID=$!
    pids="$pids $COORD_PID"
    PORT=""
    for _ in $(seq 1 100); do
        PORT=$(tail -n +$((skip + 1)) "$state.log" |
            sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' | tail -n 1)
        [ -n "$PORT" ] && [ "$PORT" != 0 ] && return 0
        kill -0 "$COORD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "coordinator did not start:"
    cat "$state.log"
    return 1
}

# fed_node_conf NAME PART: a node configuration file at $tmp/NAME.conf. A node's
# privacy defaults (DP on, plain rounds sat out) are tested in cli_fed_security.sh;
# the other tests turn them off here and name what they test (a [dp] section or
# --require-secure-aggregation appended by the test wins over these lines). A fixed
# training seed lets a test compare rounds (a node's default is secret randomness).
fed_node_conf() {
    cat >"$tmp/$1.conf" <<CONF
# node $1
coordinator = https://127.0.0.1:$PORT
cert = $tmp/pki/nodes/$1.crt
key = $tmp/pki/nodes/$1.key
ca = $tmp/pki/ca.crt
crl = $tmp/pki/crl.pem
coordinator-key = $STATE/signing.pub
data = $tmp/$2
format = movielens-csv
state-dir = $tmp/state-$1
threads = 1
max-backoff = 2
dp = off
require-secure-aggregation = off
seed = 1
CONF
}

# fed_start_node NAME ARGS...: sets NODE_PID
fed_start_node() {
    n=$1
    shift
    "$NODE" run --config "$tmp/$n.conf" "$@" >>"$tmp/$n.log" 2>&1 &
    NODE_PID=$!
    pids="$pids $NODE_PID"
}

# fed_run_nodes N SECONDS: nodes n1..nN on $tmp/part1..N, started together; sets
# all_done to 1 when every one ended within SECONDS, else 0
fed_run_nodes() {
    run_pids=""
    for i in $(seq 1 "$1"); do
        fed_node_conf "n$i" "part$i"
        fed_start_node "n$i"
        run_pids="$run_pids $NODE_PID"
    done
    all_done=1
    for p in $run_pids; do fed_wait "$p" "$2" || all_done=0; done
}

# fed_wait PID SECONDS: wait for a process to end; 1 if it is still running
fed_wait() {
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
        sleep 0.1
    done
    return 1
}

# fed_curl NODE PATH ARGS...: curl as node NODE (empty: no certificate)
fed_curl() {
    who=$1
    path=$2
    shift 2
    if [ -n "$who" ]; then
        set -- --cert "$tmp/pki/nodes/$who.crt" --key "$tmp/pki/nodes/$who.key" "$@"
    fi
    curl -sS --max-time 10 --cacert "$tmp/pki/ca.crt" "$@" "https://127.0.0.1:$PORT$path"
}
