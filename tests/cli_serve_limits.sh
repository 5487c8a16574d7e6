#!/bin/sh
# The recall service's guards: beyond loopback it does not listen without client
# certificates or a bearer token; with --token-file every request needs the token
# (401 otherwise, the token never in the log); a user id that is not UTF-8 or that
# holds %00 gets 400 with a reason, and every reply is valid JSON; a posted event's
# timestamp outside [1995-01-01, now + 1 day] (1e300, -5) gets 400 naming the field.
# Prints ok/not ok per case and a TESTS tally.
set -u
. "$(dirname "$0")/cli_lib.sh"
CA_TOOL=certs/fedrecall-ca
pid=
trap '[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$NODE" synth --users 60 --items 40 --clusters 2 --seed 5 --out "$tmp/data" >/dev/null 2>&1 ||
    bad "synth"
"$NODE" train --data "$tmp/data" --format movielens-csv --epochs 1 --dim 8 --filters 8 \
    --seq-len 10 --negatives 8 --batch 32 --model-out "$tmp/model.frm" >"$tmp/train.log" 2>&1 ||
    { bad "train"; cat "$tmp/train.log"; }
{ "$CA_TOOL" init "$tmp/ca" && "$CA_TOOL" issue-coordinator "$tmp/ca" 127.0.0.1 localhost; } \
    >/dev/null 2>&1 || bad "certificates"
S="serve --model $tmp/model.frm --data $tmp/data --format movielens-csv --seq-len 10"
TLS="--tls --cert $tmp/ca/coordinator.crt --key $tmp/ca/coordinator.key"

# start_server LOG ARGS...: serve in the background; sets pid and port (from the log)
start_server() {
    l=$1
    shift
    server_start "$l" "$@"
}
stop_server() { server_stop; }

# refused NAME ARGS...: the node exits at once with 2 and one line on stderr (a server
# that starts instead is stopped after 5 s)
refused() {
    name=$1
    shift
    timeout 5 "$NODE" "$@" >/dev/null 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
        ok "$name: $(cat "$tmp/err")"
    else
        bad "$name: exit $rc, $(head -n 2 "$tmp/err")"
    fi
}

# beyond loopback: TLS alone is not enough (refused before anything is bound)
# shellcheck disable=SC2086
refused "TLS on 0.0.0.0 without client certificates or a token" $S $TLS --listen 0.0.0.0:0
grep -q "token-file" "$tmp/err" || bad "the refusal does not name --token-file"

# check NAME WANT ARGS...: curl; the status and a JSON body that parses
check() {
    name=$1 want=$2
    shift 2
    code=$(curl -s -o "$tmp/resp" -w '%{http_code}' "$@")
    if [ "$code" = "$want" ] && jq -e . "$tmp/resp" >/dev/null 2>&1; then
        ok "$name: $code $(head -c 100 "$tmp/resp")"
    else
        bad "$name: $code (want $want, JSON) $(head -c 200 "$tmp/resp" | od -c | head -n 3)"
    fi
}

# shellcheck disable=SC2086
start_server "$tmp/plain.log" $S --listen 127.0.0.1:0 --events-log "$tmp/events" ||
    { bad "serve"; cat "$tmp/plain.log"; finish; exit 1; }
URL="http://127.0.0.1:$port"
user=$(awk -F, 'NR == 2 { print $1 }' "$tmp/data/ratings.csv")
item=$(awk -F, 'NR == 2 { print $2 }' "$tmp/data/ratings.csv")
check "a known user" 200 "$URL/v1/recall?user=$user"
check "a user id that is not UTF-8" 400 "$URL/v1/recall?user=%ff%fe$user"
grep -q 'UTF-8' "$tmp/resp" || bad "the reason does not say UTF-8"
check "a lone continuation byte" 400 "$URL/v1/recall?user=a%80"
check "an overlong slash" 400 "$URL/v1/recall?user=%c0%af"
check "a UTF-8 id is fine" 200 "$URL/v1/recall?user=caf%c3%a9"
check "%00 in a user id" 400 "$URL/v1/recall?user=$user%00x"
grep -q 'NUL' "$tmp/resp" || bad "the reason does not say NUL"
now=$(date +%s)
ev() { printf '{"user":"%s","item":"%s","timestamp":%s}' "$user" "$item" "$1"; }
check "event at 1e300" 400 -XPOST -d "$(ev 1e300)" "$URL/v1/events"
grep -q 'timestamp' "$tmp/resp" || bad "the reason does not name timestamp"
check "event at -5" 400 -XPOST -d "$(ev -5)" "$URL/v1/events"
check "event on 1994-12-31" 400 -XPOST -d "$(ev 788918399)" "$URL/v1/events"
check "event two days ahead" 400 -XPOST -d "$(ev $((now + 172800)))" "$URL/v1/events"
check "event now" 200 -XPOST -d "$(ev "$now")" "$URL/v1/events"
check "event on 1995-01-01" 200 -XPOST -d "$(ev 788918400)" "$URL/v1/events"
rows=$(($(wc -l <"$tmp/events/events.csv") - 1))
[ "$rows" -eq 2 ] && ok "only the 2 events in the window were logged" ||
    bad "events logged: $rows (want 2)"
stop_server

# a bearer token: every request needs it; the token never reaches the log
printf 'k3y-0f-the-recall-service-42\n' >"$tmp/token"
# shellcheck disable=SC2086
start_server "$tmp/tok.log" $S $TLS --listen 127.0.0.1:0 --token-file "$tmp/token" ||
    { bad "serve with a token"; cat "$tmp/tok.log"; finish; exit 1; }
URL="https://127.0.0.1:$port"
C="--cacert $tmp/ca/ca.crt"
# shellcheck disable=SC2086
check "no token" 401 $C "$URL/v1/recall?user=$user"
# shellcheck disable=SC2086
check "a wrong token" 401 $C -H "Authorization: Bearer k3y-0f-the-recall-service-43" \
    "$URL/v1/recall?user=$user"
# shellcheck disable=SC2086
check "the token as Basic" 401 $C -H "Authorization: Basic k3y-0f-the-recall-service-42" \
    "$URL/v1/recall?user=$user"
# shellcheck disable=SC2086
check "the right token" 200 $C -H "Authorization: Bearer k3y-0f-the-recall-service-42" \
    "$URL/v1/recall?user=$user"
# shellcheck disable=SC2086
check "health needs it too" 401 $C "$URL/v1/health"
stop_server
if grep -q "k3y-0f" "$tmp/tok.log"; then bad "the token is in the log"; else
    ok "the token is not in the log"; fi
printf 'short\n' >"$tmp/short"
# shellcheck disable=SC2086
refused "a token under 16 bytes" $S $TLS --listen 127.0.0.1:0 --token-file "$tmp/short"
finish
