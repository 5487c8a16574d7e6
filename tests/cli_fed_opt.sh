#!/bin/sh
# The federated optimiser over real rounds (secure aggregation on, its default): a
# coordinator with FedAvgM, a cosine server schedule, local epochs auto and carried
# local Adam moments (the default, not named) runs four rounds with three nodes, and is stopped and started
# again on its state folder once version 2 is out. The server state file must hold the
# steps of all four rounds (not two: its momentum and the schedule's place survived
# the restart), each node must have trained three local epochs a round (one per site)
# and kept its Adam moments across the rounds; a setting out of range is refused at
# start with its name.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 n2 n3 || { bad "certificates"; finish; exit 1; }
fed_data 3 --users 300 --items 200 --clusters 4 --seed 7 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
# local Adam: carry, the default; FedProx's term on the nodes' local steps
OPT="--aggregator fedavgm --server-lr-schedule cosine --local-epochs 0 --prox-mu 0.05"
TASK="--min-nodes 3 --retry 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01"

# the 8 bytes of the step in a server optimiser or moments file, little-endian
step_of() {
    od -An -tu8 -j16 -N8 "$1" 2>/dev/null | tr -d ' '
}

# shellcheck disable=SC2086 # one word per option
fed_start_coord "$STATE" $OPT $TASK --rounds 4 || { bad "coordinator start"; finish; exit 1; }
ok "coordinator with fedavgm, cosine, auto local epochs and carried moments listening"
run_pids=""
for i in 1 2 3; do
    fed_node_conf "n$i" "part$i"
    fed_start_node "n$i"
    run_pids="$run_pids $NODE_PID"
done
# the coordinator stops once version 2 is out, and starts again on its state folder;
# the nodes go on by themselves
for _ in $(seq 1 2400); do
    [ -f "$STATE/models/server-opt-000002.bin" ] && break
    sleep 0.1
done
kill "$COORD_PID" 2>/dev/null
fed_wait "$COORD_PID" 10 || bad "coordinator ignored SIGTERM"
s2=$(step_of "$STATE/models/server-opt-000002.bin")
[ "$s2" = 2 ] && ok "server state after version 2 holds 2 steps" || bad "server step: '$s2'"
a1=$(step_of "$tmp/state-n1/local-adam.state")
[ -n "$a1" ] && [ "$a1" -gt 0 ] && ok "node n1 keeps its Adam moments ($a1 steps)" ||
    bad "node n1's moments file: step '$a1'"
# shellcheck disable=SC2086 # on the same port: the nodes know no other
fed_start_coord "$STATE" $OPT $TASK --rounds 4 --listen "127.0.0.1:$PORT" ||
    { bad "coordinator restart"; finish; exit 1; }
all_done=1
for p in $run_pids; do fed_wait "$p" 240 || all_done=0; done
[ "$all_done" = 1 ] && ok "the nodes ran the federation to its end across the restart" ||
    { bad "nodes still running after 240 s"; tail -n 20 "$tmp"/n*.log "$STATE.log"; }
kill "$COORD_PID" 2>/dev/null
fed_wait "$COORD_PID" 10 || bad "coordinator ignored SIGTERM"
s4=$(step_of "$STATE/models/server-opt-000004.bin")
[ "$s4" = 4 ] && ok "server state after version 4 holds 4 steps: it survived the restart" ||
    bad "server step after the restart: '$s4'"
grep -q "moments start again from zero" "$STATE.log" && bad "the restart lost the server state" ||
    ok "the restart loaded the server state"
n=$(grep -c "training 3 local epoch(s)" "$tmp/n1.log")
[ "$n" -ge 4 ] && ok "auto local epochs: 3 (one per site) in node n1's rounds ($n)" ||
    bad "rounds of 3 local epochs in n1's log: $n"
a2=$(step_of "$tmp/state-n1/local-adam.state")
[ -n "$a2" ] && [ "$a2" -gt "$a1" ] &&
    ok "node n1's moments went on over the rounds ($a1 -> $a2 steps)" ||
    bad "node n1's moments: $a1 -> '$a2' steps"
grep -q "not carried over" "$tmp"/n*.log && bad "a node could not use its moments" ||
    ok "every node used its moments"
grep -q "proximal term mu 0.05" "$tmp/n1.log" && ok "node n1 trained with the task's proximal term" ||
    bad "no proximal term in n1's log"

# settings out of range are refused at start, by name
"$COORD" --state-dir "$tmp/c2" --server-lr-schedule linear >"$tmp/bad1" 2>&1 &&
    bad "an unknown schedule was accepted" ||
    { grep -q "server-lr-schedule" "$tmp/bad1" && ok "an unknown schedule is refused by name" ||
        bad "refusal: $(cat "$tmp/bad1")"; }
"$COORD" --state-dir "$tmp/c3" --server-lr-schedule cosine >"$tmp/bad2" 2>&1 &&
    bad "a cosine schedule without --rounds was accepted" ||
    { grep -q "rounds" "$tmp/bad2" && ok "a cosine schedule without --rounds is refused" ||
        bad "refusal: $(cat "$tmp/bad2")"; }
"$COORD" --state-dir "$tmp/c5" --aggregator fedadam --server-extrapolation on >"$tmp/bad4" 2>&1 &&
    bad "extrapolation with fedadam was accepted" ||
    { grep -q "server-extrapolation on: fedavg only" "$tmp/bad4" &&
        ok "extrapolation on with fedadam is refused by name" || bad "refusal: $(cat "$tmp/bad4")"; }
"$COORD" --state-dir "$tmp/c6" --server-extrapolation maybe >"$tmp/bad5" 2>&1 &&
    bad "server-extrapolation maybe was accepted" ||
    { grep -q "server-extrapolation: 'maybe'" "$tmp/bad5" &&
        ok "an unknown server-extrapolation is refused by name" || bad "refusal: $(cat "$tmp/bad5")"; }
"$COORD" --state-dir "$tmp/c7" --prox-mu 0.1 --dp-federation >"$tmp/bad6" 2>&1 &&
    bad "a proximal term with dp-federation was accepted" ||
    { grep -q "prox-mu 0.1: not with dp-federation" "$tmp/bad6" &&
        ok "a proximal term with dp-federation is refused by name" || bad "refusal: $(cat "$tmp/bad6")"; }
"$COORD" --state-dir "$tmp/c8" --prox-mu -1 >"$tmp/bad7" 2>&1 &&
    bad "a negative prox-mu was accepted" ||
    { grep -q "prox-mu" "$tmp/bad7" && ok "a negative prox-mu is refused by name" ||
        bad "refusal: $(cat "$tmp/bad7")"; }
"$COORD" --state-dir "$tmp/c4" --local-adam keep >"$tmp/bad3" 2>&1 &&
    bad "local-adam keep was accepted" ||
    { grep -q "local-adam" "$tmp/bad3" && ok "an unknown local-adam is refused by name" ||
        bad "refusal: $(cat "$tmp/bad3")"; }
finish
