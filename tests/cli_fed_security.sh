#!/bin/sh
# Security of the federation with the real server: certificates that must be refused
# at the TLS layer (none, another CA's, revoked, expired; plain HTTP), a node that
# cannot speak for another, and a node that refuses a model whose signature does not
# verify.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
TOOL="$BUILD/tests/tool_fed_client"

fed_pki n1 n2 n3 || { bad "certificates"; finish; exit 1; }
"$CA" issue-node "$tmp/pki" old --not-before 20200101000000Z --not-after 20200201000000Z \
    >/dev/null || bad "expired certificate"
"$CA" init "$tmp/other" >/dev/null && "$CA" issue-node "$tmp/other" n1 >/dev/null ||
    bad "other CA"
fed_data 2 --users 60 --items 40 --clusters 2 --seed 3 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
# plain rounds: the update checks below need single updates (secure rounds:
# cli_fed_secagg.sh)
fed_start_coord "$STATE" --secure-aggregation off --min-nodes 2 --rounds 1 \
    --round-timeout 300 --retry 1 --operators n1 ||
    { bad "coordinator start"; finish; exit 1; }

# refused_tls NAME CURL-ARGS...: curl fails and no HTTP status came back
refused_tls() {
    name=$1
    shift
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@" 2>"$tmp/curl.err")
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$code" = 000 ]; then ok "$name refused at TLS (curl exit $rc)"
    else bad "$name: curl exit $rc, HTTP $code"; fi
}
url="https://127.0.0.1:$PORT/v1/task"
refused_tls "no client certificate" --cacert "$tmp/pki/ca.crt" "$url"
refused_tls "another CA's certificate" --cacert "$tmp/pki/ca.crt" \
    --cert "$tmp/other/nodes/n1.crt" --key "$tmp/other/nodes/n1.key" "$url"
refused_tls "expired certificate" --cacert "$tmp/pki/ca.crt" \
    --cert "$tmp/pki/nodes/old.crt" --key "$tmp/pki/nodes/old.key" "$url"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/task" \
    2>/dev/null)
[ "$code" != 200 ] && ok "plain HTTP on the TLS port gets no answer (HTTP $code)" ||
    bad "plain HTTP answered 200"
code=$(fed_curl n3 /v1/task -o /dev/null -w '%{http_code}')
[ "$code" = 200 ] && ok "n3 is served before revocation" || bad "n3 before revocation: $code"
# a kept-alive connection opened before the revocation, used again after it
req='GET /v1/task HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
(printf "$req"; sleep 2; printf "$req"; sleep 2) |
    openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$tmp/pki/ca.crt" \
        -cert "$tmp/pki/nodes/n3.crt" -key "$tmp/pki/nodes/n3.key" >"$tmp/keepalive" 2>/dev/null &
ka=$!
sleep 1
"$CA" revoke "$tmp/pki" n3 >/dev/null && kill -HUP "$COORD_PID"
wait "$ka"
codes=$(grep -ao 'HTTP/1.1 [0-9]*' "$tmp/keepalive" | cut -c10-12 | tr '\n' ' ')
[ "$codes" = "200 403 " ] && ok "a connection kept alive across the revocation is cut (HTTP $codes)" ||
    bad "kept-alive connection after revocation: HTTP $codes"
refused_tls "revoked certificate (CRL reloaded on SIGHUP)" --cacert "$tmp/pki/ca.crt" \
    --cert "$tmp/pki/nodes/n3.crt" --key "$tmp/pki/nodes/n3.key" "$url"
grep -q "tls: .*refused" "$STATE.log" && ok "refused handshakes are logged with a reason" ||
    bad "no TLS refusal in the log"

code=$(fed_curl n2 /v1/status -o /dev/null -w '%{http_code}')
[ "$code" = 403 ] && ok "a node that is not an operator cannot read the status (HTTP 403)" ||
    bad "status for a non-operator: HTTP $code"

# identity comes from the certificate alone
as() { who=$1; shift; "$TOOL" "https://127.0.0.1:$PORT" "$tmp/pki/nodes/$who.crt" \
    "$tmp/pki/nodes/$who.key" "$tmp/pki/ca.crt" "$@"; }
out=$(as n1 node-field)
case "$out" in "HTTP 400"*node*) ok "a body naming a node is refused: $out" ;;
*) bad "node field: $out" ;; esac
as n1 join >/dev/null && as n2 join >/dev/null
sleep 1.5 # the round opens on the next tick with two nodes live
round=$(as n1 task | sed -n 's/.*round \([0-9]*\).*/\1/p')
n=$(fed_curl n1 /v1/status | sed -n 's/.*"parameters": *\([0-9]*\).*/\1/p')
out=$(as n1 good "$round" 0 "$n")
case "$out" in "HTTP 200"*) ok "n1's update accepted: $out" ;; *) bad "n1 update: $out" ;; esac
out=$(as n1 good "$round" 0 "$n")
case "$out" in "HTTP 409"*duplicate*) ok "a second update from n1 is refused: $out" ;;
*) bad "duplicate: $out" ;; esac
out=$(as n2 task)
case "$out" in *"state 1 round $round"*) ok "n2 still owes its update (n1 spoke for itself)" ;;
*) bad "n2 task after n1's upload: $out" ;; esac
[ -f "$STATE/rounds/$round/n1.update" ] && [ ! -f "$STATE/rounds/$round/n2.update" ] &&
    ok "the update is filed under the certificate's name" || bad "update files"

# a node refuses a model whose signature does not verify with its configured key
STATE_REAL=$STATE
fed_node_conf n2 part2
sed -i "s|^coordinator-key = .*|coordinator-key = $(printf '%064d' 7)|" "$tmp/n2.conf"
fed_start_node n2
fed_wait "$NODE_PID" 30
grep -q "signature does not verify" "$tmp/n2.log" &&
    ok "node refuses a model signed with another key" || { bad "bad signature"; cat "$tmp/n2.log"; }
[ ! -f "$tmp/state-n2/global.frm" ] && ok "and does not install it" || bad "installed anyway"
# the right key works
fed_node_conf n2 part2
STATE=$STATE_REAL
fed_start_node n2
for _ in $(seq 1 300); do grep -q "signature verified" "$tmp/n2.log" && break; sleep 0.1; done
kill "$NODE_PID" 2>/dev/null
grep -q "signature verified" "$tmp/n2.log" && ok "the coordinator's own key verifies" ||
    bad "good key: $(tail -n 3 "$tmp/n2.log")"
finish
