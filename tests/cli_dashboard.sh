#!/bin/sh
# The operator's views of a running federation: a coordinator with an operator
# certificate and the loopback dashboard listener, two nodes (one with DP) for two
# rounds and a refused request; then the dashboard over mutual TLS and over loopback
# HTTP must show what the coordinator's state holds (versions, nodes, rounds and their
# participants, HR@10, epsilon, the refusal), only operators may read it, a
# non-loopback dashboard address is refused, `fedrecall-coordinator status` prints the
# same state as a table, and headless Chromium renders the page (when installed).
# FR_DASHBOARD_PNG=FILE keeps the screenshot there; docs/dashboard.png is made so, with
# FR_DASHBOARD_ROUNDS=8 for fuller charts.
ROUNDS=${FR_DASHBOARD_ROUNDS:-2}
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

fed_pki n1 n2 ops || { bad "certificates"; finish; exit 1; }
fed_data 2 --users 240 --items 120 --clusters 4 --seed 5 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
# two nodes: plain rounds (a secure round needs three members)
fed_start_coord "$STATE" --min-nodes 2 --rounds "$ROUNDS" --retry 1 --local-epochs 1 --seq-len 20 \
    --batch 32 --negatives 32 --lr 0.01 --operators ops --dashboard-listen 127.0.0.1:0 \
    --secure-aggregation off ||
    { bad "coordinator start"; finish; exit 1; }
DPORT=$(sed -n 's/.*dashboard on .* (port \([0-9]*\), loopback only).*/\1/p' "$STATE.log")
check "dashboard listener on loopback port $DPORT" '[ -n "$DPORT" ] && [ "$DPORT" != 0 ]'
fed_node_conf n1 part1
printf '[dp]\ndp = true\nepsilon-max = 8\nsampling-rate = 0.5\n' >>"$tmp/n1.conf"
fed_node_conf n2 part2
fed_start_node n1
p1=$NODE_PID
fed_start_node n2
p2=$NODE_PID
fed_wait "$p1" 240 && fed_wait "$p2" 240 && ok "two nodes ran $ROUNDS rounds" ||
    { bad "nodes still running"; tail -n 5 "$tmp"/n*.log "$STATE.log"; }
sleep 1 # the nodes' last metrics
# refused requests, recorded with the node's name; the second one's reason quotes the
# unknown key it sent, markup that the page must show as text
fed_curl n1 /v1/metrics -X POST --data-binary 'not a metrics message' -o /dev/null
printf '\201\262<script>x</script>\300' >"$tmp/evil.msg" # {"<script>x</script>": nil}
fed_curl n1 /v1/metrics -X POST --data-binary @"$tmp/evil.msg" -o /dev/null
fed_curl ops /v1/status >"$tmp/status.json"
check "status JSON readable by the operator" 'python3 -m json.tool "$tmp/status.json" >/dev/null'

# The page over mutual TLS, for operators only.
code=$(fed_curl ops /dashboard -D "$tmp/headers" -o "$tmp/dash.html" -w '%{http_code}')
check "operator gets /dashboard over mTLS (HTTP $code)" '[ "$code" = 200 ]'
check "served as HTML with a policy that forbids scripts and outside resources" \
    'grep -qi "^content-type: text/html" "$tmp/headers" &&
     grep -qi "^content-security-policy: default-src .none.; style-src .unsafe-inline.; img-src data:" "$tmp/headers"'
code=$(fed_curl n1 /dashboard -o /dev/null -w '%{http_code}')
check "a node certificate gets 403 (HTTP $code)" '[ "$code" = 403 ]'
check "no certificate: refused during the handshake" '! fed_curl "" /dashboard -o /dev/null 2>/dev/null'
check "the page refreshes itself and has no script, no outside link" \
    'grep -q "<meta http-equiv=\"refresh\"" "$tmp/dash.html" &&
     ! grep -qi "<script\|src=\"http\|href=\"http" "$tmp/dash.html"'

# The same page on the loopback listener, and nothing else there.
curl -sS --max-time 10 -o "$tmp/plain.html" "http://127.0.0.1:$DPORT/dashboard"
check "loopback listener serves the dashboard" 'grep -q "id=\"model-version\"" "$tmp/plain.html"'
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DPORT/v1/status")
check "loopback listener serves nothing else (/v1/status: HTTP $code)" '[ "$code" = 404 ]'
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$DPORT/dashboard")
check "loopback listener: POST refused (HTTP $code)" '[ "$code" = 405 ]'

# What the page shows is the coordinator's state.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$tmp/status.json"; }
version=$(json x "d['model_version']")
check "model version $version shown" 'grep -q "id=\"model-version\">$version<" "$tmp/dash.html" &&
    [ "$version" = "$ROUNDS" ]'
for n in n1 n2; do
    nv=$(json x "[x['model_version'] for x in d['nodes'] if x['name'] == '$n'][0]")
    row=$(grep "<tr id=\"node-$n\">" "$tmp/dash.html")
    check "node $n listed with model version $nv" \
        '[ "$nv" = "$ROUNDS" ] && echo "$row" | grep -q "<td class=\"n\">$nv</td>"'
done
spent=$(json x "'%.3g / %.3g' % ([x['eps_spent'] for x in d['nodes'] if x['name'] == 'n1'][0], 8)")
check "n1's privacy spent against its budget: $spent" \
    'grep "<tr id=\"node-n1\">" "$tmp/dash.html" | grep -q "$spent" && [ "$spent" != "0 / 8" ]'
check "n2 has no DP budget" 'grep "<tr id=\"node-n2\">" "$tmp/dash.html" | grep -q "no DP budget"'
# both nodes sent an update in every round, as the store counts them
for r in 1 2; do
    updates=$(json x "[x['updates'] for x in d['rounds'] if x['round'] == $r][0]")
    row=$(grep "<tr id=\"round-$r\">" "$tmp/dash.html")
    check "round $r shows its $updates participants" \
        '[ "$updates" = 2 ] && echo "$row" | grep -q "<td>n1, n2</td>\|<td>n2, n1</td>"'
done
"$COORD" report --state-dir "$STATE" >"$tmp/report"
hr2=$(awk -v r="$ROUNDS" '$1 == r {print $6}' "$tmp/report")
check "round $ROUNDS's HR@10 is the report's ($hr2)" \
    'grep "<tr id=\"round-$ROUNDS\">" "$tmp/dash.html" | grep -q ">$hr2<"'
check "round $ROUNDS's note is its extrapolated server step" \
    'grep "<tr id=\"round-$ROUNDS\">" "$tmp/dash.html" | grep -q "<td>step [0-9.]*x the mean</td>"'
check "three charts, one a curve per metric" \
    '[ "$(grep -o "<svg " "$tmp/dash.html" | wc -l)" = 3 ] && grep -q "HR@10" "$tmp/dash.html" &&
     grep -q "NDCG@10" "$tmp/dash.html" && [ "$(grep -o "<circle" "$tmp/dash.html" | wc -l)" -ge 6 ]'
check "a reason quoting markup is shown escaped" \
    'grep -q "unknown key .*&lt;script&gt;x&lt;/script&gt;" "$tmp/dash.html"'
check "the refused request with its node and reason" \
    'sed -n "/id=\"refusals\"/,/<\/table>/p" "$tmp/dash.html" | grep -q "<td>n1</td>"'

# fedrecall-coordinator status: the same state as a table.
st() {
    who=$1
    shift
    "$COORD" status --url "https://127.0.0.1:$PORT" --cert "$tmp/pki/nodes/$who.crt" \
        --key "$tmp/pki/nodes/$who.key" --ca "$tmp/pki/ca.crt" "$@"
}
st ops >"$tmp/st.out" 2>"$tmp/st.err"
rc=$?
cat "$tmp/st.out"
check "status prints a table (exit $rc)" '[ "$rc" = 0 ] && grep -q "^model version $ROUNDS " "$tmp/st.out"'
check "status: both nodes at version $ROUNDS" \
    'grep -q "^n1 .* live .* $ROUNDS " "$tmp/st.out" && grep -q "^n2 .* live .* $ROUNDS " "$tmp/st.out"'
check "status: both rounds published with their versions" \
    'grep -q "^1  *published  *2  *0->1 " "$tmp/st.out" && grep -q "^$ROUNDS  *published  *2  *$((ROUNDS - 1))->$ROUNDS .* $hr2 " "$tmp/st.out"'
st ops --json >"$tmp/st.json" 2>/dev/null
check "status --json passes the JSON through" 'python3 -m json.tool "$tmp/st.json" >/dev/null'
st n1 >/dev/null 2>"$tmp/st.err"
rc=$?
check "status with a node certificate: exit 1, the coordinator's 403 ($(cat "$tmp/st.err"))" \
    '[ "$rc" = 1 ] && grep -q "HTTP 403" "$tmp/st.err" && [ "$(wc -l <"$tmp/st.err")" = 1 ]'
"$COORD" status --url "https://127.0.0.1:$PORT" --cert "$tmp/pki/nodes/ops.crt" \
    --key "$tmp/pki/nodes/ops.key" >/dev/null 2>"$tmp/st.err"
check "status without --ca: usage error" '[ $? = 2 ] && grep -q "ca is required" "$tmp/st.err"'

# Plain HTTP anywhere but loopback is refused at start.
"$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" --key "$tmp/pki/coordinator.key" \
    --ca "$tmp/pki/ca.crt" --state-dir "$tmp/other" --initial-model "$tmp/init.frm" \
    --dashboard-listen 0.0.0.0:0 >/dev/null 2>"$tmp/bad.err"
rc=$?
check "dashboard-listen 0.0.0.0 refused (exit $rc: $(cat "$tmp/bad.err"))" \
    '[ "$rc" = 2 ] && grep -q "dashboard-listen.*loopback" "$tmp/bad.err"'

# Rendered by a real browser engine.
if [ -x /usr/bin/chromium ]; then
    timeout 90 /usr/bin/chromium --headless --no-sandbox --disable-gpu \
        --user-data-dir="$tmp/chromium" --screenshot="$tmp/dash.png" --window-size=1280,1000 \
        "http://127.0.0.1:$DPORT/dashboard" >"$tmp/chromium.log" 2>&1
    size=$(stat -c %s "$tmp/dash.png" 2>/dev/null || echo 0)
    check "headless Chromium renders the page ($size bytes of PNG)" \
        '[ "$size" -gt 20000 ] && [ "$(head -c 4 "$tmp/dash.png" | tail -c 3)" = PNG ]'
    [ -n "${FR_DASHBOARD_PNG:-}" ] && [ "$size" -gt 0 ] && cp "$tmp/dash.png" "$FR_DASHBOARD_PNG"
else
    echo "skip    the screenshot: /usr/bin/chromium is not installed"
fi
kill "$COORD_PID" 2>/dev/null
fed_wait "$COORD_PID" 10 && ok "coordinator stops" || bad "coordinator did not stop"
finish
