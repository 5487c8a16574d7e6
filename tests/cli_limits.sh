#!/bin/sh
# The server's limits before and around authentication, over real sockets on
# 127.0.0.1 only. Against the TLS layer (tool_https_echo over fr_https): a declared
# body over --max-body gets 413 at once, before any of it is sent; a client trickling
# its header is cut at the header deadline though the body's is long; at the
# connection cap the server pauses accepting instead of failing, and serves again;
# at the file-descriptor limit it backs off with one log line instead of spinning.
# Against a coordinator with its defaults: a slowloris of 1,000 sockets without
# certificates and 200 authenticated clients trickling headers, while three real nodes
# run a round: the round publishes, every trickling client is cut, and the
# coordinator's log stays bounded (its CPU time and log size are printed); then 2,000
# bad updates from one certificate leave a bounded number of stored refusals and log
# lines. Prints ok/not ok per case and a TESTS tally.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
ECHO="$BUILD/tests/tool_https_echo"
SLOW="$BUILD/tests/tool_slowloris"
# 1,200 client sockets and the server's own in one test
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

fed_pki n1 n2 n3 || { bad "certificates"; finish; exit 1; }
pki="$tmp/pki"

# echo_start ARGS...: tool_https_echo on a free port; sets ECHO_PID, EPORT
echo_start() {
    rm -f "$tmp/eport"
    "$ECHO" --listen 127.0.0.1:0 --cert "$pki/coordinator.crt" --key "$pki/coordinator.key" \
        --ca "$pki/ca.crt" --port-file "$tmp/eport" "$@" 2>"$tmp/echo.log" &
    ECHO_PID=$!
    pids="$pids $ECHO_PID"
    for _ in $(seq 1 50); do [ -s "$tmp/eport" ] && break; sleep 0.1; done
    EPORT=$(cat "$tmp/eport" 2>/dev/null)
    [ -n "$EPORT" ]
}

# tls_send SECONDS: stdin to the echo server as node n1 for at most SECONDS
tls_send() {
    timeout "$1" openssl s_client -quiet -connect "127.0.0.1:$EPORT" \
        -cert "$pki/nodes/n1.crt" -key "$pki/nodes/n1.key" -CAfile "$pki/ca.crt" 2>/dev/null
}

echo_start --max-body 100000 --deadline 60 --header-deadline 1 ||
    { bad "echo server start"; cat "$tmp/echo.log"; finish; exit 1; }

# 413 at once: the header declares a terabyte and nothing follows. Before, the body
# was waited for (and drained) until the connection's deadline, 60 s here.
start=$(date +%s%N)
{
    printf 'POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000000\r\n\r\n'
    sleep 4
} | tls_send 6 >"$tmp/413.out"
ms=$((($(date +%s%N) - start) / 1000000))
if grep -q '^HTTP/1.1 413' "$tmp/413.out"; then
    ok "declared body over --max-body: 413 without reading it"
else
    bad "declared body over --max-body: '$(head -c 80 "$tmp/413.out")' after $ms ms"
fi
# and a client that sends it anyway gets the answer, not a reset
head -c 3000000 /dev/zero >"$tmp/big"
code=$(curl -s --max-time 20 --cacert "$pki/ca.crt" --cert "$pki/nodes/n1.crt" \
    --key "$pki/nodes/n1.key" -H 'Expect:' --data-binary @"$tmp/big" -o /dev/null \
    -w '%{http_code}' "https://127.0.0.1:$EPORT/echo")
[ "$code" = 413 ] && ok "body sent over --max-body: 413 reaches the client" ||
    bad "body sent over --max-body: HTTP $code"

# the header deadline (1 s) applies though the body's (60 s) is long
{
    printf 'GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n'
    for n in 1 2 3 4 5; do
        sleep 1
        printf 'X-Slow-%d: y\r\n' "$n" || break
    done
} 2>/dev/null | tls_send 10 >"$tmp/slow.out"
if ! grep -q HTTP/ "$tmp/slow.out" && grep -q "request header not finished within 1 s" \
    "$tmp/echo.log"; then
    ok "a header trickled for 5 s is cut at the 1 s header deadline"
else
    bad "trickled header: '$(head -c 80 "$tmp/slow.out")'"
    tail -n 3 "$tmp/echo.log"
fi
kill "$ECHO_PID" 2>/dev/null
fed_wait "$ECHO_PID" 5 || bad "echo server ignored SIGTERM"

# the connection cap: 60 sockets that never finish a handshake hold a server capped at
# 32; it pauses accepting (one line), cuts them at the deadline and serves again
echo_start --deadline 60 --header-deadline 2 --max-conns 32 ||
    { bad "capped echo server start"; finish; exit 1; }
"$SLOW" --port "$EPORT" --raw 60 --seconds 5 --gap-ms 500 >"$tmp/cap.out" 2>&1 &
spid=$!
sleep 1
held=$(curl -s --max-time 0.5 --cacert "$pki/ca.crt" --cert "$pki/nodes/n1.crt" \
    --key "$pki/nodes/n1.key" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$EPORT/whoami")
wait "$spid"
code=$(curl -s --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/nodes/n1.crt" \
    --key "$pki/nodes/n1.key" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$EPORT/whoami")
pauses=$(grep -c "connection cap reached" "$tmp/echo.log")
cat "$tmp/cap.out"
if [ "$held" != 200 ] && [ "$code" = 200 ] && [ "$pauses" -ge 1 ] && [ "$pauses" -le 2 ]; then
    ok "at the cap of 32: a new client waits (HTTP $held), then is served (200); $pauses log line"
else
    bad "cap: while held HTTP $held, after HTTP $code, $pauses pause lines"
    tail -n 5 "$tmp/echo.log"
fi
kill "$ECHO_PID" 2>/dev/null
fed_wait "$ECHO_PID" 5 || bad "capped echo server ignored SIGTERM"

# at the file-descriptor limit (64 here, the cap of 512 above it) accept() fails: the
# server backs off instead of spinning, logs one line, and serves again afterwards.
# The last server's port file goes before this one starts: removed after, it could
# take the new server's port with it and leave the case without a port.
rm -f "$tmp/eport"
(
    ulimit -n 64
    exec "$ECHO" --listen 127.0.0.1:0 --cert "$pki/coordinator.crt" --key "$pki/coordinator.key" \
        --ca "$pki/ca.crt" --port-file "$tmp/eport" --header-deadline 2 2>"$tmp/echo.log"
) &
ECHO_PID=$!
pids="$pids $ECHO_PID"
for _ in $(seq 1 50); do [ -s "$tmp/eport" ] && break; sleep 0.1; done
EPORT=$(cat "$tmp/eport" 2>/dev/null)
[ -n "$EPORT" ] || { bad "echo server at the descriptor limit: no port"; finish; exit 1; }
"$SLOW" --port "$EPORT" --raw 200 --seconds 5 --gap-ms 500 >/dev/null 2>&1
code=$(curl -s --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/nodes/n1.crt" \
    --key "$pki/nodes/n1.key" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$EPORT/whoami")
fdcpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$ECHO_PID/stat" 2>/dev/null)
lines=$(wc -l <"$tmp/echo.log")
accept_lines=$(grep -c "cannot accept" "$tmp/echo.log")
echo "  at the descriptor limit: ${fdcpu:-?} s of CPU in 5 s, log $lines lines, $(wc -c <"$tmp/echo.log") bytes"
if [ "$code" = 200 ] && [ "$accept_lines" -ge 1 ] && [ "$accept_lines" -le 2 ] &&
    [ "$lines" -le 60 ]; then
    ok "at the descriptor limit: $accept_lines accept line, $lines log lines, then served (200)"
else
    bad "descriptor limit: HTTP $code, $accept_lines accept lines, $lines log lines"
    sort "$tmp/echo.log" | uniq -c | sort -rn | head -n 3
fi
kill "$ECHO_PID" 2>/dev/null
fed_wait "$ECHO_PID" 5 || bad "echo server at the descriptor limit ignored SIGTERM"

# A coordinator with its defaults (10 s header deadline, 512 connections) under 1,000
# sockets trickling a ClientHello and 200 authenticated clients trickling a header,
# while three real nodes run a round.
fed_data 3 --users 240 --items 150 --clusters 4 --seed 5 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
fed_start_coord "$STATE" --min-nodes 3 --rounds 1 --retry 1 --local-epochs 1 --seq-len 10 \
    --batch 32 --negatives 16 || { bad "coordinator start"; finish; exit 1; }
"$SLOW" --port "$PORT" --tls 200 --cert "$pki/nodes/n3.crt" --key "$pki/nodes/n3.key" \
    --ca "$pki/ca.crt" --raw 1000 --seconds 20 --gap-ms 2000 >"$tmp/slow.txt" 2>&1 &
spid=$!
sleep 1
fed_run_nodes 3 150
wait "$spid"
cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$COORD_PID/stat" 2>/dev/null)
cat "$tmp/slow.txt"
"$COORD" report --state-dir "$STATE" >"$tmp/report" 2>&1
published=$(grep -c ' published ' "$tmp/report")
if [ "$all_done" = 1 ] && [ "$published" -eq 1 ]; then
    ok "under the slowloris the three nodes' round published"
else
    bad "round under load: nodes done $all_done, published $published"
    tail -n 5 "$tmp"/n*.log
fi
tls_cut=$(awk '$1 == "tls" {print $6}' "$tmp/slow.txt")
tls_conn=$(awk '$1 == "tls" {print $4}' "$tmp/slow.txt")
raw_conn=$(awk '$1 == "raw" {print $4}' "$tmp/slow.txt")
if [ "${tls_conn:-0}" -ge 150 ] && [ "$tls_cut" = "$tls_conn" ]; then
    ok "all $tls_conn authenticated header tricklers cut at the header deadline"
else
    bad "authenticated tricklers: $tls_conn connected, $tls_cut cut"
fi
lines=$(wc -l <"$STATE.log")
bytes=$(wc -c <"$STATE.log")
tls_lines=$(grep -c '^tls: ' "$STATE.log")
echo "  coordinator under the load: ${cpu:-?} s of CPU, log $lines lines ($tls_lines about" \
    "refused connections), $bytes bytes; $raw_conn raw sockets connected"
if [ "$tls_lines" -le 150 ] && [ "$bytes" -le 65536 ]; then
    ok "coordinator log bounded: $tls_lines connection lines, $bytes bytes"
else
    bad "coordinator log: $tls_lines connection lines, $bytes bytes"
fi

# a certificate holder floods bad updates over one kept-alive connection: every one
# is refused, the store and the log keep a bounded number
for i in $(seq 1 2000); do echo "url = \"https://127.0.0.1:$PORT/v1/update\""; done >"$tmp/flood.cfg"
before=$(wc -l <"$STATE.log")
rows0=$(sqlite3 "$STATE/coordinator.db" 'SELECT COUNT(*) FROM refusals' 2>/dev/null)
start=$(date +%s)
curl -s --max-time 120 --cacert "$pki/ca.crt" --cert "$pki/nodes/n3.crt" \
    --key "$pki/nodes/n3.key" -H 'Content-Type: application/msgpack' --data-binary 'junk' \
    --no-progress-meter -Z --parallel-max 16 -K "$tmp/flood.cfg" -o /dev/null -w '%{http_code}\n' >"$tmp/flood.codes"
secs=$(($(date +%s) - start))
answered=$(grep -c '^400$' "$tmp/flood.codes")
rows=$(($(sqlite3 "$STATE/coordinator.db" 'SELECT COUNT(*) FROM refusals' 2>/dev/null) - rows0))
# (the slowloris' last sockets may still be logged as they close: count refusal lines)
flood_lines=$(tail -n +$((before + 1)) "$STATE.log" | grep -c 'refused /v1/update\|refusals from')
unrec=$(fed_curl n1 /metrics | sed -n 's/^fedrecall_refusals_unrecorded_total //p')
# 20 at once, then one every 10 s (two log lines: the refusal and the count it hid)
if [ "$answered" -eq 2000 ] && [ "$rows" -le $((22 + secs / 10)) ] &&
    [ "$flood_lines" -le $((24 + secs / 5)) ] && [ "${unrec:-0}" -ge 1950 ]; then
    ok "2,000 bad updates in $secs s: all refused (400), $rows rows stored, $flood_lines log lines, $unrec only counted"
else
    bad "flood: $answered refused in $secs s, $rows rows, $flood_lines log lines, unrecorded ${unrec:-?}"
fi
kill "$COORD_PID" 2>/dev/null
fed_wait "$COORD_PID" 10 || bad "coordinator ignored SIGTERM"
finish
