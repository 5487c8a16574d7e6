#!/bin/sh
# Secure aggregation in the federation, over mutual TLS with the real programs: a
# secure round publishes the same model as a plain one (within the fixed-point
# quantisation) while the coordinator holds no update in the clear; rounds survive
# nodes that drop out after sharing their keys or after sending their masked update;
# with more dropouts than the threshold allows the round is aborted and nothing is
# published; messages sent for another node, another round or in garbled form are
# refused with a reason while the round goes on; identities not bound to the sender's
# certificate are refused at join; every round passes the consistency check (U3 signed
# by its members); a node refuses a round below its own floor before it trains.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
TOOL="$BUILD/tests/tool_fed_client"
DIFF="$BUILD/tests/tool_model_diff"
NODE_PRODUCT=$NODE
NODE_FAULTS="$BUILD/tests/fedrecall-node-faults"

# the shipped node carries no test switch: fault injection is in the test build only
if grep -a -q FEDRECALL_TEST "$NODE"; then bad "$NODE contains FEDRECALL_TEST"
else ok "$NODE has no test hooks"; fi
grep -a -q FEDRECALL_TEST_DROP_AFTER "$NODE_FAULTS" &&
    ok "the fault-test node has them" || bad "$NODE_FAULTS lacks its fault points"

fed_pki n1 n2 n3 n4 || { bad "certificates"; finish; exit 1; }
fed_data 4 --users 240 --items 100 --clusters 4 --seed 21 || { bad "data"; finish; exit 1; }
# max-weight near the largest site's users (60 here): the cap sets the fixed-point
# scale of the weighted delta, and so the precision of the secure rounds' sum
TASK="--retry 1 --local-epochs 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01 --max-weight 100"

# start_fed NAME NODES COORD-ARGS...: a coordinator in $tmp/NAME and nodes n1..nNODES
# on fresh state, each with the drop-out step in DROP_<node> (if any)
start_fed() {
    name=$1 count=$2
    shift 2
    STATE="$tmp/$name"
    # shellcheck disable=SC2086
    fed_start_coord "$STATE" $TASK "$@" || return 1
    started=""
    for i in $(seq 1 "$count"); do
        rm -rf "$tmp/state-n$i" "$tmp/n$i.log"
        fed_node_conf "n$i" "part$i"
        eval "drop=\${DROP_n$i:-}"
        if [ -n "$drop" ]; then
            # only the test build of the node has fault points that act
            FEDRECALL_TEST_DROP_AFTER=$drop
            export FEDRECALL_TEST_DROP_AFTER
            NODE=$NODE_FAULTS
        fi
        fed_start_node "n$i"
        unset FEDRECALL_TEST_DROP_AFTER
        NODE=$NODE_PRODUCT
        started="$started $NODE_PID"
    done
}

# stop_fed NAME: stop the coordinator, write and show its report
stop_fed() {
    kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null
    "$COORD" report --state-dir "$STATE" >"$tmp/$1.report" 2>&1
    cat "$tmp/$1.report"
}

# run_fed NAME NODES COORD-ARGS...: start_fed, wait for every node to end, stop_fed
run_fed() {
    start_fed "$@" || return 1
    for p in $started; do fed_wait "$p" 120 || { bad "$name: a node still runs"; return 1; }; done
    kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null
    "$COORD" report --state-dir "$STATE" >"$tmp/$name.report" 2>&1
    cat "$tmp/$name.report"
}

# 1. the same round, secure and plain: the same model within quantisation
run_fed secure 3 --min-nodes 3 --rounds 1
cp "$tmp/n1.log" "$tmp/secure-n1.log"
run_fed plain 3 --min-nodes 3 --rounds 1 --secure-aggregation off
grep -q "round 1 is secure: 3 members, threshold 3" "$tmp/secure.log" &&
    grep -q "round 1 (secure, node 1 of 3, threshold 3): training" "$tmp/secure-n1.log" &&
    ok "round 1 ran secure by default" || bad "no secure round logged"
grep -q "is secure" "$tmp/plain.log" && bad "secure-aggregation off still ran a secure round" ||
    ok "secure-aggregation off runs plain rounds"
set -- $("$DIFF" "$tmp/secure/models/model-000001.frm" "$tmp/plain/models/model-000001.frm")
if [ -n "${2:-}" ] && awk -v d="$1" -v m="$2" 'BEGIN {exit !(m > 0.01 && d < 1e-5)}'; then
    ok "secure and plain rounds publish the same model (max difference $1, largest value $2)"
else bad "models differ: ${1:-?} (largest ${2:-?})"; fi
ls=$(awk '$1 == 1 {print $5}' "$tmp/secure.report")
lp=$(awk '$1 == 1 {print $5}' "$tmp/plain.report")
[ -n "$ls" ] && [ "$ls" = "$lp" ] && ok "and the same mean training loss ($ls)" ||
    bad "mean loss secure '$ls' plain '$lp'"
n=$(find "$tmp/secure" -name '*.update' | wc -l)
[ "$n" = 0 ] && [ -n "$(find "$tmp/plain" -name '*.update' -o -name rounds -type d)" ] &&
    ok "the secure coordinator kept no update on disk" || bad "$n update files"

# a node's floors on a secure round can be raised, never lowered
"$NODE" run --secagg-min-members 2 >/dev/null 2>"$tmp/err"
rc=$?
"$NODE" run --secagg-min-threshold-ratio 0.6 >/dev/null 2>>"$tmp/err"
rc2=$?
[ "$rc" = 2 ] && [ "$rc2" = 2 ] && grep -q "secagg-min-members: 2 is outside \[3, 255\]" "$tmp/err" &&
    grep -q "secagg-min-threshold-ratio: 0.6 is outside \[0.666667, 1\]" "$tmp/err" &&
    ok "floors below n >= 3, t > 2n/3 are refused" || { bad "floors: exit $rc $rc2"; cat "$tmp/err"; }

# 2. a node drops out after sharing its keys: its masks are removed, round published
DROP_n4=shares run_fed drop-shares 4 --min-nodes 4 --rounds 1 --round-timeout 6 \
    --secagg-step-timeout 2
grep -q "round 1: 3 masked updates in, 1 dropped; consistency check" "$tmp/drop-shares.log" &&
    grep -q "round 1: 3 of 3 members signed U3; unmasking" "$tmp/drop-shares.log" &&
    grep -q "n4.*dropping out after 'shares'\|dropping out after 'shares'" "$tmp/n4.log" &&
    ok "n4 dropped out after sharing its keys" || bad "no drop-out after shares"
grep -q '^1  *published  *3 ' "$tmp/drop-shares.report" &&
    ok "round 1 published the other 3 updates" || bad "round after a drop-out"

# 3. a node drops out after its masked update: it still counts
DROP_n4=masked run_fed drop-masked 4 --min-nodes 4 --rounds 1 --round-timeout 30 \
    --secagg-step-timeout 2
grep -q "round 1: unmasked the sum of 4 members" "$tmp/drop-masked.log" &&
    grep -q '^1  *published  *4 ' "$tmp/drop-masked.report" &&
    ok "n4's masked update counts though it left before unmasking" ||
    bad "round with a drop-out after upload"

# 4. more drop-outs than the threshold allows: aborted, nothing published
DROP_n3=shares DROP_n4=shares start_fed drop-many 4 --min-nodes 4 --rounds 1 \
    --round-timeout 6 --secagg-step-timeout 2
for _ in $(seq 1 300); do grep -q "round 1 aborted" "$STATE.log" && break; sleep 0.1; done
sleep 1
kill $started 2>/dev/null
stop_fed drop-many
grep -q '^1  *aborted ' "$tmp/drop-many.report" &&
    grep -q "round 1 aborted: .* 2 nodes sent masked inputs, the threshold is 3" \
        "$tmp/drop-many.log" &&
    ok "2 of 4 left after sharing (threshold 3): round 1 aborted" || bad "round 1 not aborted"
[ ! -e "$tmp/drop-many/models/model-000001.frm" ] &&
    ! grep -q ' published ' "$tmp/drop-many.report" &&
    ok "nothing of round 1 was published" || bad "a version was published"

# 4b. a node whose own floor the round falls short of refuses it before it trains
STATE="$tmp/floor"
# shellcheck disable=SC2086
fed_start_coord "$STATE" $TASK --min-nodes 3 --rounds 1 --round-timeout 4 ||
    { bad "coordinator start"; finish; exit 1; }
started=""
for i in 1 2 3; do
    rm -rf "$tmp/state-n$i" "$tmp/n$i.log"
    fed_node_conf "n$i" "part$i"
    if [ "$i" = 3 ]; then fed_start_node n3 --secagg-min-members 4; else fed_start_node "n$i"; fi
    started="$started $NODE_PID"
done
for _ in $(seq 1 300); do grep -q "takes part with 4 at least" "$tmp/n3.log" && break; sleep 0.1; done
kill $started "$COORD_PID" 2>/dev/null
grep -q "round 1: left the secure round: .*3 members, this node takes part with 4 at least" \
    "$tmp/n3.log" && ! grep -q "round 1 (secure, node 3" "$tmp/n3.log" &&
    ok "a node with secagg-min-members 4 refuses a round of 3 before training" ||
    { bad "n3 took part in a round below its floor"; tail -n 5 "$tmp/n3.log"; }

# 5. refusals while a round is open: identities, senders, rounds, garbled bodies
STATE="$tmp/checks"
fed_start_coord "$STATE" --min-nodes 3 --rounds 1 --retry 1 --round-timeout 5 ||
    { bad "coordinator start"; finish; exit 1; }
as() { who=$1; shift; "$TOOL" "https://127.0.0.1:$PORT" "$tmp/pki/nodes/$who.crt" \
    "$tmp/pki/nodes/$who.key" "$tmp/pki/ca.crt" "$@"; }
check() { # check NAME EXPECTED-PREFIX TOOL-ARGS...
    name=$1 want=$2
    shift 2
    out=$(as "$@")
    case "$out" in "$want"*) ok "$name: $(echo "$out" | cut -c1-110)" ;;
    *) bad "$name: $out" ;; esac
}
check "identity bound with another node's certificate" "HTTP 422: identity of n3" \
    n3 join-id-other "$tmp/pki/nodes/n1.crt" "$tmp/pki/nodes/n1.key"
check "identity whose binding signature is forged" "HTTP 422: identity of n3: the signature" \
    n3 join-id-forged
check "identity bound to the sender's certificate" "HTTP 200" n1 join-id
check "second node joins" "HTTP 200" n2 join-id
check "third node joins" "HTTP 200" n3 join-id
sleep 1.5 # the next tick opens the round
check "a node that is not a member" "HTTP 409: n4 is not a member of round 1" \
    n4 secagg-get setup 1
check "the setup for a member" "HTTP 200" n1 secagg-get setup 1
check "a GET for another round" "HTTP 409: round 7 is not the open round 1" \
    n1 secagg-get setup 7
check "keys advertised for another node" "HTTP 403: a advertise message from node 2, but n1" \
    n1 secagg-advertise-as 1 2
check "a garbled advertisement" "HTTP 400" n1 secagg-garbage advertise
check "a masked update before its step" "HTTP 400" n2 secagg-garbage masked
params=$(sed -n 's/.*version 0, \([0-9]*\) parameters.*/\1/p' "$STATE.log" | head -n 1)
check "a plain update in a secure round" "HTTP 409: round 1 uses secure aggregation" \
    n1 good 1 0 "$params"
# the advert list is asked for before the step closes: the request waits for the step,
# which ends at the round's deadline with no valid advertisement and aborts the round.
# Held means: asked while the round was still open (no abort in the log yet), answered
# only once it was over. (No wall-clock bound: a slow build may use most of the
# deadline on the checks above.)
grep -q "round 1 aborted" "$STATE.log" && open_before=no || open_before=yes
check "the advert list is held until its step closes" "HTTP 409: round 1 is not the open round" \
    n1 secagg-get adverts 1
if [ "$open_before" = yes ] && grep -q "round 1 aborted" "$STATE.log"; then
    ok "asked while round 1 was open, answered after it ended"
else
    bad "the advert list was not held (round open when asked: $open_before)"
fi
"$COORD" report --state-dir "$STATE" >"$tmp/checks.report" 2>&1
grep -q "round 1 aborted: .*nothing is output: 0 nodes advertised keys, the threshold is 3" \
    "$STATE.log" && ok "the round is aborted when its step times out short of the threshold" ||
    bad "no abort at the step deadline"
n=$(grep -c "refused /v1/" "$STATE.log")
[ "$n" -ge 8 ] && ok "each refusal logged with its reason ($n)" || bad "refusals: $n"
kill "$COORD_PID"
finish
