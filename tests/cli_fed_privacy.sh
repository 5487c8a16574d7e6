#!/bin/sh
# Privacy by default with the real programs over mutual TLS: a node whose own
# configuration says nothing sits plain rounds out (no raw update leaves it) and trains
# with DP under the default budget, and warns loudly when its configuration turns
# either off; what a node reports with its metrics leaves out its users and loss; the
# status views show per-node detail to named operators only; an operator's
# certificate (fedrecall-ca issue-operator) is never a member; a node with a roster
# (members) refuses a secure round with a member it does not know; in secure rounds a
# node's HR@10, NDCG@10 and recall@10 leave it only inside the masked sum, and the
# coordinator records the federation's figures for each version trained from.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
TOOL="$BUILD/tests/tool_fed_client"
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

fed_pki n1 n2 n3 || { bad "certificates"; finish; exit 1; }
"$CA" issue-operator "$tmp/pki" ops >/dev/null || bad "issue-operator"
check "an operator certificate carries OU=operator" \
    'openssl x509 -in "$tmp/pki/operators/ops.crt" -noout -subject | grep -q "OU *= *operator"'
fed_data 3 --users 90 --items 40 --clusters 2 --seed 3 || { bad "data"; finish; exit 1; }
TASK="--retry 1 --local-epochs 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01"
# default_conf NAME PART: the node's configuration without the tests' privacy lines
default_conf() {
    fed_node_conf "$1" "$2"
    sed -i '/^dp = off$/d; /^require-secure-aggregation = off$/d' "$tmp/$1.conf"
}

# 1. a plain task: a node with its defaults sits it out and sends nothing
STATE="$tmp/plain"
# shellcheck disable=SC2086
fed_start_coord "$STATE" --secure-aggregation off --min-nodes 1 --rounds 1 $TASK ||
    { bad "coordinator start"; finish; exit 1; }
default_conf n1 part1
fed_start_node n1
for _ in $(seq 1 300); do grep -q "sitting it out" "$tmp/n1.log" && break; sleep 0.1; done
sleep 1
kill "$NODE_PID" 2>/dev/null
grep -q "round 1 is not a secure one and require-secure-aggregation is set: sitting it out" \
    "$tmp/n1.log" && ok "a node with its defaults sits a plain round out" ||
    { bad "default node and a plain round"; tail -n 5 "$tmp/n1.log"; }
check "and sends no update (none filed, none logged)" \
    '[ ! -f "$STATE/rounds/1/n1.update" ] && ! grep -q "update sent" "$tmp/n1.log"'
check "and does not warn (its defaults are the private ones)" '! grep -q WARNING "$tmp/n1.log"'
kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null

# 2. DP by default; plain rounds and dp off only where the node's configuration says so
STATE="$tmp/dp"
# shellcheck disable=SC2086
fed_start_coord "$STATE" --secure-aggregation off --min-nodes 2 --rounds 1 $TASK ||
    { bad "coordinator start"; finish; exit 1; }
default_conf n2 part2
echo "require-secure-aggregation = off" >>"$tmp/n2.conf"
default_conf n3 part3
echo "require-secure-aggregation = false" >>"$tmp/n3.conf"
fed_start_node n2 --max-rounds 1; p2=$NODE_PID
fed_start_node n3 --max-rounds 1 --dp=off; p3=$NODE_PID
fed_wait "$p2" 120 && fed_wait "$p3" 120 && ok "both nodes took part and stopped" ||
    { bad "nodes still running"; tail -n 5 "$tmp/n2.log" "$tmp/n3.log"; }
check "a node that does not turn dp off trains with DP under the default budget" \
    'grep -q "^budget epsilon=8 " "$tmp/state-n2/privacy-ledger" && grep -q "^steps q=" "$tmp/state-n2/privacy-ledger"'
check "--dp=off trains without DP" '[ ! -s "$tmp/state-n3/privacy-ledger" ]'
check "and says so loudly at start and before the round" \
    '[ "$(grep -c "WARNING: dp is off" "$tmp/n3.log")" -ge 2 ] && ! grep -q "WARNING: dp is off" "$tmp/n2.log"'
check "require-secure-aggregation off warns too" \
    'grep -q "WARNING: require-secure-aggregation is off" "$tmp/n2.log"'
r1=$(sqlite3 "$STATE/coordinator.db" "SELECT status, updates FROM rounds WHERE id = 1")
check "the round took both updates ($r1)" '[ "$r1" = "published|2" ]'
rows=$(sqlite3 "$STATE/coordinator.db" "SELECT node, users, loss FROM metrics ORDER BY node" | tr '\n' ' ')
check "metrics carry no user count and no loss ($rows)" \
    '[ -n "$rows" ] && [ -z "$(echo "$rows" | tr " " "\n" | grep -v "^$" | grep -v "|0|0\(\.0\)\?$")" ]'

# 3. the views without --operators: no per-node detail for any certificate
code=$(fed_curl n2 /v1/status -o "$tmp/status.json" -w '%{http_code}')
check "a node reads the status without operators set (HTTP $code)" '[ "$code" = 200 ]'
check "with the nodes listed but no users, windows or epsilon per node" \
    'grep -q "\"n3\"" "$tmp/status.json" && ! grep -Eq "\"(users|windows|eps_spent|eps_budget)\"" "$tmp/status.json"'
"$COORD" status --url "https://127.0.0.1:$PORT" --cert "$tmp/pki/nodes/n2.crt" \
    --key "$tmp/pki/nodes/n2.key" --ca "$tmp/pki/ca.crt" >"$tmp/status.txt" 2>&1
check "the status command shows them as unknown, not as 'no DP'" \
    'grep -Eq "^n2 +(live|silent) +- +[0-9]+ +- +- " "$tmp/status.txt" && ! grep -q "no DP" "$tmp/status.txt"'
code=$(fed_curl n2 /dashboard -o /dev/null -w '%{http_code}')
check "nor the dashboard (HTTP $code)" '[ "$code" = 403 ]'

# 4. an operator's certificate is never a member
op() { "$TOOL" "https://127.0.0.1:$PORT" "$tmp/pki/operators/ops.crt" \
    "$tmp/pki/operators/ops.key" "$tmp/pki/ca.crt" "$@"; }
for what in join join-id task; do
    out=$(op "$what")
    case "$out" in "HTTP 403"*operator*) ok "an operator certificate's $what is refused: $out" ;;
    *) bad "operator $what: $out" ;; esac
done
code=$(curl -sS --max-time 10 --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/operators/ops.crt" \
    --key "$tmp/pki/operators/ops.key" -o /dev/null -w '%{http_code}' \
    "https://127.0.0.1:$PORT/v1/status")
check "it still reads the status (HTTP $code)" '[ "$code" = 200 ]'
kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null

# 5. a roster: a node pinning its partners refuses a round with anyone else
STATE="$tmp/roster"
# shellcheck disable=SC2086
fed_start_coord "$STATE" --min-nodes 3 --rounds 1 --round-timeout 60 $TASK ||
    { bad "coordinator start"; finish; exit 1; }
fp=$(openssl x509 -in "$tmp/pki/nodes/n3.crt" -noout -fingerprint -sha256 | cut -d= -f2)
started=""
for i in 1 2 3; do
    fed_node_conf "n$i" "part$i"
    rm -rf "$tmp/state-n$i"
    : >"$tmp/n$i.log"
done
echo "members = n2" >>"$tmp/n1.conf"                 # n3 unknown to n1
echo "members = n1, sha256:$fp" >>"$tmp/n2.conf"      # n3 pinned by fingerprint
for i in 1 2 3; do fed_start_node "n$i" --max-rounds 1; started="$started $NODE_PID"; done
for _ in $(seq 1 600); do grep -q "roster" "$tmp/n1.log" && break; sleep 0.1; done
grep -q "member n3 of round 1 is not on this node's roster" "$tmp/n1.log" &&
    ok "a node refuses a round with a member off its roster" ||
    { bad "roster refusal"; tail -n 5 "$tmp/n1.log"; }
check "before anything leaves it (no key exchange)" '! grep -q "training" "$tmp/n1.log"'
check "a fingerprint pins a member (n2 takes the round)" '! grep -q "roster" "$tmp/n2.log"'
for p in $started; do kill "$p" 2>/dev/null; done
"$NODE" run --help | grep -q "^  --members" && ok "run --help lists members" || bad "members help"
out=$("$NODE" run --config "$tmp/n1.conf" --members "n2,shop/x" 2>&1)
case "$out" in *"shop/x"*) ok "a malformed roster entry is refused at start: $out" ;;
*) bad "bad roster entry: $out" ;; esac

# 6. quality figures in secure mode: inside the masked sum only
STATE="$tmp/quality"
# shellcheck disable=SC2086
fed_start_coord "$STATE" --min-nodes 3 --rounds 2 --round-timeout 60 $TASK ||
    { bad "coordinator start"; finish; exit 1; }
started=""
for i in 1 2 3; do
    fed_node_conf "n$i" "part$i"
    sed -i '/^require-secure-aggregation = off$/d' "$tmp/n$i.conf"
    rm -rf "$tmp/state-n$i"
    : >"$tmp/n$i.log"
done
for i in 1 2 3; do fed_start_node "n$i" --max-rounds 2; started="$started $NODE_PID"; done
done_all=1
for p in $started; do fed_wait "$p" 180 || done_all=0; done
[ "$done_all" = 1 ] && ok "three nodes in secure mode took part in two rounds" ||
    { bad "quality: nodes still running"; tail -n 5 "$tmp/n1.log" "$tmp/quality.log"; }
for p in $started; do kill "$p" 2>/dev/null; done
db="$STATE/coordinator.db"
rows=$(sqlite3 "$db" "SELECT COUNT(*), COUNT(hr10), COUNT(ndcg10), COUNT(recall10) FROM metrics")
check "the nodes reported each version with no figure of their own ($rows)" \
    'case "$rows" in 0\|*) false ;; *"|0|0|0") true ;; *) false ;; esac'
eps=$(sqlite3 "$db" "SELECT COUNT(*) FROM metrics WHERE eps_spent IS NOT NULL")
check "only their version and spent epsilon ($eps rows)" '[ "$eps" -ge 3 ]'
fed=$(sqlite3 "$db" "SELECT model_version, round, nodes, users > 0, hr10 BETWEEN 0 AND 1,
    ndcg10 BETWEEN 0 AND 1, recall10 BETWEEN 0 AND 1 FROM version_eval ORDER BY model_version" |
    tr '\n' ' ')
check "the federation's figures of versions 0 and 1, from the sums of rounds 1 and 2 ($fed)" \
    '[ "$fed" = "0|1|3|1|1|1|1 1|2|3|1|1|1|1 " ]'
# every node's own evaluation (logged locally) against what the coordinator holds
own=$(grep -ho "version 0 on local validation: HR@10 [0-9.]*" "$tmp"/n[123].log | awk '{print $NF}' |
    sort -u | tr '\n' ' ')
fhr=$(sqlite3 "$db" "SELECT printf('%.4f', hr10) FROM version_eval WHERE model_version = 0")
mean=$(grep -h "version 0 on local validation" "$tmp"/n[123].log |
    sed 's/.*HR@10 \([0-9.]*\) NDCG@10 [0-9.]* (\([0-9]*\) users).*/\1 \2/' |
    awk '{s += $1 * $2; u += $2} END {if (u) printf "%.4f", s / u}')
check "whose HR@10 is the nodes' eval-user-weighted mean ($fhr; nodes $own; mean $mean)" \
    '[ -n "$fhr" ] && awk -v a="$fhr" -v b="$mean" "BEGIN {d = a - b; exit !(d < 2e-4 && d > -2e-4)}"'
code=$(fed_curl n2 /v1/status -o "$tmp/quality.json" -w '%{http_code}')
check "the status shows the federation's figures for a version (HTTP $code)" \
    '[ "$code" = 200 ] && grep -q "\"source\": *\"federation\"" "$tmp/quality.json"'
check "and no node's figures" '! grep -q "\"source\": *\"nodes\"" "$tmp/quality.json"'
fed_curl n2 /metrics -o "$tmp/quality.prom"
check "Prometheus shows the federation's figures of version 1" \
    'grep -q "^fedrecall_federation_eval_version 1$" "$tmp/quality.prom" &&
     grep -q "^fedrecall_federation_eval{metric=\"hr10\"} 0\.[0-9]*$" "$tmp/quality.prom"'
kill "$COORD_PID" && wait "$COORD_PID" 2>/dev/null
"$COORD" report --state-dir "$STATE" >"$tmp/quality.report" 2>&1
check "the report has the federation's HR@10 for the initial version" \
    "grep -Eq '^- +initial +- +0 +- +$fhr ' '$tmp/quality.report'"
finish
