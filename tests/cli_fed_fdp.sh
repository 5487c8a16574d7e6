#!/bin/sh
# Federation-wide user-level DP with distributed noise, end to end over mutual TLS with
# the real programs: the coordinator puts the round's mechanism in every secure round's
# task and refuses to start without secure aggregation; each node charges its ledger
# and masks its integer vector (sampled users, clipped, rounded, plus its noise share);
# the coordinator turns the unmasked sum into the round's step. Every member's ledger
# records the same federation-wide epsilon, `privacy status` shows it, and a node whose
# budget cannot pay for a round refuses it with its reason while the others go on. The
# coordinator's dashboard, /v1/status, /metrics and report show the federation-wide
# epsilon the members' ledgers hold, and show it again after a restart.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
DIFF="$BUILD/tests/tool_model_diff"

fed_pki n1 n2 n3 n4 || { bad "certificates"; finish; exit 1; }
fed_data 4 --users 160 --items 60 --clusters 4 --seed 5 || { bad "data"; finish; exit 1; }
FDP="--dp-federation --dp-fed-q 0.3 --dp-fed-sigma 1.2 --dp-fed-clip 1 --dp-fed-users 160"

# 1. no federation-wide DP without secure aggregation: a clear error, no start
# shellcheck disable=SC2086
"$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" \
    --key "$tmp/pki/coordinator.key" --ca "$tmp/pki/ca.crt" --state-dir "$tmp/plain" \
    --initial-model "$tmp/init.frm" --secure-aggregation off $FDP >"$tmp/plain.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q "dp-federation: needs secure-aggregation on" "$tmp/plain.out" &&
    ok "dp-federation with secure aggregation off: refused ($(tail -n 1 "$tmp/plain.out"))" ||
    { bad "dp-federation started without secure aggregation (exit $rc)"; cat "$tmp/plain.out"; }
# shellcheck disable=SC2086
"$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" \
    --key "$tmp/pki/coordinator.key" --ca "$tmp/pki/ca.crt" --state-dir "$tmp/nosig" \
    --initial-model "$tmp/init.frm" --dp-federation --dp-fed-q 0.3 --dp-fed-users 160 \
    >"$tmp/nosig.out" 2>&1
[ $? -ne 0 ] && grep -q "give one of dp-fed-sigma or dp-fed-epsilon" "$tmp/nosig.out" &&
    ok "dp-federation without a noise or a budget: refused" ||
    { bad "dp-federation started with no noise"; cat "$tmp/nosig.out"; }

# 2. four members, threshold 3; n4's budget cannot pay for one round
STATE="$tmp/coord"
# shellcheck disable=SC2086
COORD_ARGS="--retry 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01 --max-weight 100
    --min-nodes 4 --quorum 3 --rounds 3 --aggregator fedavg --server-lr 1 $FDP
    --dp-fed-delta 1e-5 --dashboard-listen 127.0.0.1:0"
# shellcheck disable=SC2086
fed_start_coord "$STATE" $COORD_ARGS || { bad "coordinator"; finish; exit 1; }
started=""
for i in 1 2 3 4; do
    fed_node_conf "n$i" "part$i"
    echo "dp-seed = fdp-test-n$i" >>"$tmp/n$i.conf"
    [ "$i" = 4 ] && echo "dp-epsilon-max = 0.05" >>"$tmp/n$i.conf"
    # n1 keeps a node's privacy default: DP on with no budget named spends the default
    [ "$i" = 1 ] && echo "dp = true" >>"$tmp/n$i.conf"
    fed_start_node "n$i"
    started="$started $NODE_PID"
done
for p in $started; do fed_wait "$p" 180 || bad "a node still runs"; done
# the coordinator's views of the federation's epsilon, then the same after a restart
views() {
    fed_curl n1 /v1/status >"$tmp/status$1.json"
    fed_curl n1 /metrics >"$tmp/metrics$1"
    "$COORD" status --url "https://127.0.0.1:$PORT" --cert "$tmp/pki/nodes/n1.crt" \
        --key "$tmp/pki/nodes/n1.key" --ca "$tmp/pki/ca.crt" >"$tmp/cstatus$1" 2>&1
    dport=$(sed -n 's/.*dashboard on .* (port \([0-9]*\), loopback only).*/\1/p' "$STATE.log" |
        tail -n 1)
    curl -s --max-time 10 "http://127.0.0.1:$dport/dashboard" >"$tmp/dash$1.html"
}
views 1
kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null
"$COORD" report --state-dir "$STATE" >"$tmp/report" 2>&1

steps=$(grep -c "federation-wide DP step from 3 members' shares" "$STATE.log")
[ "$steps" -eq 3 ] && ok "3 rounds stepped from the members' noisy sum" ||
    { bad "$steps federation-wide steps"; cat "$STATE.log"; }
grep -q "dp-federation: every round is user-level DP-SGD over the federation: q 0.3, sigma 1.2" \
    "$STATE.log" && ok "the coordinator announced the mechanism" || bad "no mechanism line"
# FedAvg at server rate 1: each version is the last plus -(sum of the sampled users'
# clipped gradients + noise of sd sigma C) / (q N), the noise's sd 1.2 / 48 = 0.025 per
# coordinate; over 69,200 coordinates the largest change is the noise's maximum, about
# 4.3 sd (0.108). An undecoded or unscaled sum moves them by far more, missing noise (or
# shares that left a third of it) by far less.
for v in 1 2 3; do
    moved=$("$DIFF" "$STATE/models/model-00000$((v - 1)).frm" "$STATE/models/model-00000$v.frm" \
        2>/dev/null | cut -d' ' -f1)
    awk -v d="${moved:-x}" 'BEGIN { exit !(d >= 0.08 && d <= 0.16) }' &&
        ok "version $v: the largest change $moved is the step's noise (sd 0.025)" ||
        bad "version $v: largest change '$moved', want the noise's 0.08..0.16"
done
# every member's ledger: 3 rounds, the same federation-wide epsilon
eps=""
for i in 1 2 3; do
    grep -q "round 1: federation-wide DP: [0-9]* of [0-9]* users sampled (q 0.3)" "$tmp/n$i.log" ||
        bad "n$i: no sampling line"
    st=$("$NODE" privacy status --state-dir "$tmp/state-n$i" --delta 1e-5)
    e=$(echo "$st" | sed -n 's/^federation-wide: 3 rounds with distributed noise, epsilon \([0-9.]*\) at delta 1e-05$/\1/p')
    [ -n "$e" ] && ok "n$i: privacy status: $(echo "$st" | grep federation-wide)" ||
        { bad "n$i: privacy status"; echo "$st"; cat "$tmp/n$i.log"; }
    [ -z "$eps" ] && eps=$e
    [ "$e" = "$eps" ] || bad "n$i: federation epsilon $e, n1's $eps"
done
"$NODE" privacy status --state-dir "$tmp/state-n1" --delta 1e-5 --json |
    grep -q '"federation_rounds": 3, "federation_epsilon": ' &&
    ok "privacy status --json: federation_rounds 3" || bad "privacy status --json"
"$NODE" privacy status --state-dir "$tmp/state-n1" --json | grep -q '"epsilon_budget": 8,' &&
    ok "n1 (dp on, no budget named): the default budget 8 recorded" || bad "n1's default budget"
awk -v e="$eps" 'BEGIN { exit !(e > 0.5 && e < 50) }' &&
    ok "the federation's epsilon is $eps at delta 1e-5" || bad "epsilon $eps out of range"

# 3. the coordinator shows the members' figure: the dashboard and the report to the
# printed precision, /v1/status and /metrics to the ledger's JSON precision (6 digits)
jeps=$("$NODE" privacy status --state-dir "$tmp/state-n1" --delta 1e-5 --json |
    sed -n 's/.*"federation_epsilon": \([0-9.e+-]*\).*/\1/p')
grep -q "id=\"federation-dp\">Federation-wide DP: q 0.3, sigma 1.2, clip C 1; 3 rounds so far, epsilon $eps at delta 1e-05 (planned: epsilon $eps after all 3 rounds)" \
    "$tmp/dash1.html" && ok "dashboard: $(sed -n 's/.*id="federation-dp">\([^<]*\)<.*/\1/p' "$tmp/dash1.html")" ||
    { bad "dashboard: no federation-wide epsilon $eps"; grep -i "federation-dp" "$tmp/dash1.html"; }
grep -q "^federation-wide DP: q 0.3, sigma 1.2, clip 1; 3 rounds, epsilon $eps at delta 1e-05 (planned: epsilon $eps after all 3 rounds)$" \
    "$tmp/cstatus1" && ok "status: $(grep '^federation-wide' "$tmp/cstatus1")" ||
    { bad "status: no federation-wide epsilon $eps"; cat "$tmp/cstatus1"; }
grep -q "^federation-wide DP: 3 rounds with distributed noise (q 0.3, sigma 1.2, clip 1), epsilon $eps at delta 1e-05$" \
    "$tmp/report" && ok "report: $(grep '^federation-wide' "$tmp/report")" ||
    { bad "report: no federation-wide epsilon $eps"; cat "$tmp/report"; }
close() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > 0 && b > 0 && (a - b) / b < 1e-5 && (b - a) / b < 1e-5) }'; }
sfdp() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['federation_dp']; print(d['$2'])" \
        "$tmp/status$1.json" 2>/dev/null
}
seps=$(sfdp 1 epsilon)
close "$seps" "$jeps" && [ "$(sfdp 1 rounds)" = 3 ] && [ "$(sfdp 1 delta)" = 1e-05 ] &&
    [ "$(sfdp 1 planned_rounds)" = 3 ] && close "$(sfdp 1 planned_epsilon)" "$jeps" &&
    ok "/v1/status: federation_dp 3 rounds, epsilon $seps at delta 1e-05 (the ledgers' $jeps)" ||
    { bad "/v1/status federation_dp (ledgers $jeps)"; cat "$tmp/status1.json"; }
meps=$(sed -n 's/^fedrecall_federation_epsilon \([0-9.e+-]*\)$/\1/p' "$tmp/metrics1")
close "$meps" "$jeps" && grep -q '^fedrecall_federation_dp_rounds 3$' "$tmp/metrics1" &&
    grep -q '^fedrecall_federation_delta 1e-05$' "$tmp/metrics1" &&
    ok "/metrics: fedrecall_federation_epsilon $meps" ||
    { bad "/metrics: federation epsilon '$meps' (ledgers $jeps)"; grep federation "$tmp/metrics1"; }
# restarted from its state folder, the coordinator composes the same figure
# shellcheck disable=SC2086
if fed_start_coord "$STATE" $COORD_ARGS; then
    views 2
    kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null
    grep '^fedrecall_federation' "$tmp/metrics1" >"$tmp/m1"
    grep '^fedrecall_federation' "$tmp/metrics2" >"$tmp/m2"
    [ -s "$tmp/m1" ] && cmp -s "$tmp/m1" "$tmp/m2" && [ "$(sfdp 2 epsilon)" = "$seps" ] &&
        grep -q "3 rounds so far, epsilon $eps at delta 1e-05" "$tmp/dash2.html" &&
        ok "restarted: the same federation-wide epsilon on every view" ||
        { bad "restarted: another figure"; diff "$tmp/m1" "$tmp/m2"; }
else
    bad "the coordinator did not restart"
fi

# n4 refused every round with its reason and spent nothing
refusals=$(grep -c "refusing the federation-wide DP round: privacy budget spent" "$tmp/n4.log")
[ "$refusals" -ge 1 ] && ok "n4 refused with its reason ($refusals rounds)" ||
    { bad "n4 did not refuse"; cat "$tmp/n4.log"; }
st4=$("$NODE" privacy status --state-dir "$tmp/state-n4" --delta 1e-5 --json)
echo "$st4" | grep -q '"federation_rounds": 0' && echo "$st4" | grep -q '"epsilon_budget": 0.05' &&
    ok "n4's ledger: budget 0.05, no federation round charged" || bad "n4's ledger: $st4"
grep -q "masked update sent" "$tmp/n4.log" && bad "n4 sent a masked update" ||
    ok "n4 sent no masked update"

# 4. a budget (--dp-fed-epsilon) before any round: nothing spent, and the planned figure
# is the one sigma was planned for
STATE="$tmp/planned"
if fed_start_coord "$STATE" --min-nodes 4 --rounds 5 --dp-federation --dp-fed-q 0.3 \
    --dp-fed-epsilon 4 --dp-fed-users 160 --dp-fed-delta 1e-5; then
    fed_curl n1 /metrics >"$tmp/metrics3"
    kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null
    want=$(sed -n 's/.*dp-federation: sigma [0-9.e+-]* for epsilon \([0-9.e+-]*\) at delta.*/\1/p' "$STATE.log")
    # no aggregator named: under dp-federation the server takes Adam's steps at 1/rounds,
    # within [0.01, 0.05]
    grep -q "listening on .*, fedadam at server rate 0.05," "$STATE.log" &&
        ok "no aggregator named: fedadam at server rate 0.05 (5 rounds)" ||
        { bad "the default server optimiser under dp-federation"; grep listening "$STATE.log"; }
    got=$(sed -n 's/^fedrecall_federation_epsilon_planned \([0-9.e+-]*\)$/\1/p' "$tmp/metrics3")
    grep -q '^fedrecall_federation_epsilon 0$' "$tmp/metrics3" &&
        grep -q '^fedrecall_federation_dp_rounds 0$' "$tmp/metrics3" &&
        awk -v a="$got" -v b="$want" 'BEGIN { exit !(b > 0 && (a - b) / b < 1e-3 && (b - a) / b < 1e-3) }' &&
        ok "before any round: epsilon 0, planned $got after 5 rounds (the plan's $want)" ||
        { bad "planned '$got', the plan's '$want'"; grep federation "$tmp/metrics3"; cat "$STATE.log"; }
else
    bad "a coordinator with a budget did not start"
fi
finish
