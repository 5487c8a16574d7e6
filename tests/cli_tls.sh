#!/bin/sh
# Mutual TLS against the real server (tool_https_echo over fr_https) with the curl
# command and certificates from certs/fedrecall-ca: a node's certificate gets 200 and
# its CN; no certificate, one from another CA, an expired one and a revoked one (after
# the SIGHUP reload) are refused during the handshake, never with an HTTP status, and
# the server logs why; plain HTTP to the TLS port gets no HTTP answer; a body over
# --max-body gets 413; a client trickling its headers is cut at the deadline; a reload
# of a broken CRL keeps the old one. Prints ok/not ok per case and a TESTS tally.
set -u
. "$(dirname "$0")/cli_lib.sh"
ECHO="$BUILD/tests/tool_https_echo"
CA_TOOL=certs/fedrecall-ca
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

ca="$tmp/ca"
if ! { "$CA_TOOL" init "$ca" &&
    "$CA_TOOL" issue-coordinator "$ca" 127.0.0.1 localhost &&
    "$CA_TOOL" issue-node "$ca" node-a &&
    "$CA_TOOL" issue-node "$ca" node-b &&
    "$CA_TOOL" issue-node --not-before 20200101000000Z --not-after 20200201000000Z "$ca" old-node &&
    "$CA_TOOL" init "$tmp/other" &&
    "$CA_TOOL" issue-node "$tmp/other" node-a; } >"$tmp/ca.log" 2>&1; then
    bad "certificates from $CA_TOOL"
    cat "$tmp/ca.log"
    finish
    exit 1
fi

"$ECHO" --listen 127.0.0.1:0 --cert "$ca/coordinator.crt" --key "$ca/coordinator.key" \
    --ca "$ca/ca.crt" --crl "$ca/crl.pem" --max-body 100000 --deadline 2 \
    --port-file "$tmp/port" 2>"$tmp/server.log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/port" 2>/dev/null)
if [ -z "$port" ]; then
    bad "server did not start"
    cat "$tmp/server.log"
    finish
    exit 1
fi
url="https://127.0.0.1:$port"

# call NAME ARGS...: curl with the federation CA; sets code (HTTP status, 000 when
# none), rc (curl's exit code) and body.
call() {
    who=$1
    shift
    if [ "$who" = - ]; then
        set -- "$@"
    elif [ "$who" = other ]; then
        set -- --cert "$tmp/other/nodes/node-a.crt" --key "$tmp/other/nodes/node-a.key" "$@"
    else
        set -- --cert "$ca/nodes/$who.crt" --key "$ca/nodes/$who.key" "$@"
    fi
    rm -f "$tmp/body"
    code=$(curl -s --max-time 10 --cacert "$ca/ca.crt" -o "$tmp/body" -w '%{http_code}' "$@")
    rc=$?
    body=$(cat "$tmp/body" 2>/dev/null)
}

# refused NAME LOG-PATTERN ARGS...: no HTTP status, a TLS-level curl error, and the
# server's log line naming the reason.
refused() {
    name=$1
    pattern=$2
    shift 2
    call "$@"
    case $rc in 35 | 55 | 56) tls_err=1 ;; *) tls_err=0 ;; esac
    if [ "$code" = 000 ] && [ $tls_err -eq 1 ] && grep -q "refused: .*$pattern" "$tmp/server.log"; then
        ok "$name: refused at TLS (curl exit $rc; $(grep "refused: .*$pattern" "$tmp/server.log" | tail -n 1))"
    else
        bad "$name: HTTP $code, curl exit $rc, body '$body'"
        tail -n 3 "$tmp/server.log"
    fi
}

call node-a "$url/whoami"
[ "$code" = 200 ] && [ "$body" = node-a ] && ok "node certificate: 200, CN $body" ||
    bad "node certificate: HTTP $code, curl exit $rc, body '$body'"
call node-a "https://localhost:$port/whoami"
[ "$code" = 200 ] && ok "server name localhost verified" || bad "localhost: HTTP $code, exit $rc"

refused "no client certificate" "did not return a certificate" - "$url/whoami"
refused "certificate of another CA" "unable to get local issuer" other "$url/whoami"
refused "expired certificate" "expired" old-node "$url/whoami"

call node-b "$url/whoami"
[ "$code" = 200 ] && [ "$body" = node-b ] && ok "node-b before revocation: 200" ||
    bad "node-b before revocation: HTTP $code"
"$CA_TOOL" revoke "$ca" node-b >/dev/null 2>&1 || bad "fedrecall-ca revoke failed"
kill -HUP "$pid"
i=0
while ! grep -q "CRL reloaded" "$tmp/server.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
refused "revoked certificate after reload" "certificate revoked" node-b "$url/whoami"
call node-a "$url/whoami"
[ "$code" = 200 ] && ok "other nodes unaffected by the revocation" || bad "node-a after revoke: $code"

call - "http://127.0.0.1:$port/whoami"
if [ "$code" != 200 ] && [ "$rc" -ne 0 ] && grep -q "refused: http request" "$tmp/server.log"; then
    ok "plain HTTP to the TLS port: no HTTP answer (curl exit $rc)"
else
    bad "plain HTTP to the TLS port: HTTP $code, curl exit $rc, body '$body'"
fi

head -c 100000 /dev/zero >"$tmp/fits"
head -c 100001 /dev/zero >"$tmp/over"
call node-a --data-binary @"$tmp/fits" "$url/echo"
[ "$code" = 200 ] && [ "${body%% *}" = 100000 ] && ok "body at --max-body: 200, $body" ||
    bad "body at --max-body: HTTP $code, '$body'"
call node-a --data-binary @"$tmp/over" "$url/echo"
[ "$code" = 413 ] && ok "body over --max-body: 413" || bad "body over --max-body: HTTP $code"

# Headers trickled one line a second: the idle timeout never fires, the deadline does.
start=$(date +%s%N)
{
    printf 'GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n'
    for n in 1 2 3 4 5 6 7 8; do
        sleep 1
        printf 'X-Slow-%d: y\r\n' "$n" || break
    done
} 2>/dev/null | openssl s_client -quiet -connect "127.0.0.1:$port" -cert "$ca/nodes/node-a.crt" \
    -key "$ca/nodes/node-a.key" -CAfile "$ca/ca.crt" >"$tmp/slow.out" 2>/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
if [ $ms -lt 6000 ] && ! grep -q HTTP/ "$tmp/slow.out" &&
    grep -q "not finished within 2 s" "$tmp/server.log"; then
    ok "slow client cut at the deadline (after $ms ms)"
else
    bad "slow client: $ms ms, answer '$(head -c 80 "$tmp/slow.out")'"
    tail -n 3 "$tmp/server.log"
fi

printf 'not a CRL\n' >"$ca/crl.pem"
kill -HUP "$pid"
i=0
while ! grep -q "kept the old CRL" "$tmp/server.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "kept the old CRL" "$tmp/server.log" && ok "broken CRL reload refused" ||
    bad "broken CRL reload not reported"
call node-a "$url/whoami"
code_a=$code
call node-b "$url/whoami"
[ "$code_a" = 200 ] && [ "$code" = 000 ] && ok "old CRL still in force" ||
    bad "after a broken reload: node-a $code_a, node-b $code"

kill "$pid"
wait "$pid"
src=$?
pid=
[ $src -eq 0 ] && ok "server stops on SIGTERM" || bad "server exit $src on SIGTERM"
if grep -q "PRIVATE" "$tmp/server.log"; then bad "key material in the log"; fi
finish
