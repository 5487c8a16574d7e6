#!/bin/sh
# The federation's certificate tooling, certs/fedrecall-ca: the CA, coordinator and node
# certificates (chains, names, key usages, validity, key file modes), refusals, revocation
# and the CRL, expiry, rotation, a real mutual-TLS handshake with the openssl CLI, and the
# commands of docs/operations.md run as written. Prints ok/not ok per case and a TESTS tally.
# shellcheck disable=SC2015,SC2016,SC2034 # check evaluates its quoted condition later
set -u
. "$(dirname "$0")/cli_lib.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
CA="$top/certs/fedrecall-ca"
d="$tmp/ca"
spid=
trap '[ -z "$spid" ] || kill "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT

# Every run's output is kept, so that the end can check no key was ever printed.
fca() {
    "$CA" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    cat "$tmp/out" "$tmp/err" >>"$tmp/all"
    return $rc
}
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
mode() { stat -c %a "$1"; }
sum() { cat "$@" | cksum; }
text() { openssl x509 -in "$1" -noout -text; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
verify() { openssl verify -CAfile "$d/ca.crt" "$@" >"$tmp/v" 2>&1; }
verify_crl() { verify -crl_check -CRLfile "$d/crl.pem" "$@"; }
# lasts NAME FILE DAYS: the certificate ends within a day of DAYS from now
lasts() {
    openssl x509 -in "$2" -noout -checkend $(($3 * 86400 - 86400)) >/dev/null &&
        ! openssl x509 -in "$2" -noout -checkend $(($3 * 86400 + 86400)) >/dev/null &&
        ok "$1 valid $3 days" || bad "$1 not valid $3 days"
}
# refused NAME CODE ARGS...: exit CODE with exactly one line on stderr
refused() {
    name=$1 want=$2
    shift 2
    fca "$@"
    if [ "$rc" -eq "$want" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
        ok "$name refused: $(cat "$tmp/err")"
    else
        bad "$name: exit $rc (want $want): $(cat "$tmp/err")"
    fi
}

"$CA" --help >"$tmp/out" 2>&1 && grep -q '^examples:' "$tmp/out" && ok "--help" || bad "--help"
"$CA" help >/dev/null 2>&1 && ok "help" || bad "help"
"$CA" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && grep -q '^usage:' "$tmp/err" &&
    ok "no arguments: usage on stderr, exit 2" || bad "no arguments: exit $rc"
refused "unknown command" 2 frobnicate "$d"
refused "issue-node without a CA" 1 issue-node "$d" a

# The CA.
fca init "$d" && ok "init" || bad "init: $(cat "$tmp/err")"
check "CA folder 0700, keys 0600" '[ "$(mode "$d")" = 700 ] && [ "$(mode "$d/ca.key")" = 600 ]'
text "$d/ca.crt" >"$tmp/t"
check "CA: P-256, CA:TRUE, keyCertSign + cRLSign" 'grep -q "NIST CURVE: P-256" "$tmp/t" &&
    grep -q "CA:TRUE" "$tmp/t" && grep -q "Certificate Sign, CRL Sign" "$tmp/t"'
lasts "CA" "$d/ca.crt" 3650
check "empty CRL" 'openssl crl -in "$d/crl.pem" -noout -text | grep -q "No Revoked Certificates"'
old=$(sum "$d/ca.key" "$d/ca.crt")
refused "second init" 1 init "$d"
check "second init left the CA alone" '[ "$(sum "$d/ca.key" "$d/ca.crt")" = "$old" ]'

# The coordinator.
fca issue-coordinator "$d" 127.0.0.1 localhost && ok "issue-coordinator" || bad "issue-coordinator"
text "$d/coordinator.crt" >"$tmp/t"
check "coordinator SANs: IP 127.0.0.1, DNS localhost" \
    'grep -q "IP Address:127.0.0.1, DNS:localhost$" "$tmp/t"'
check "coordinator CN is the first host" 'grep -q "Subject:.*CN = 127.0.0.1$" "$tmp/t"'
check "coordinator: serverAuth, digitalSignature" \
    'grep -A1 "Extended Key Usage" "$tmp/t" | grep -q "^ *TLS Web Server Authentication$" &&
    grep -A1 "X509v3 Key Usage" "$tmp/t" | grep -q "^ *Digital Signature$"'
check "coordinator key 0600" '[ "$(mode "$d/coordinator.key")" = 600 ]'
check "coordinator chains to the CA" 'verify "$d/coordinator.crt"'
lasts "coordinator" "$d/coordinator.crt" 825
old=$(sum "$d/coordinator.crt" "$d/coordinator.key")
refused "second issue-coordinator" 1 issue-coordinator "$d" 127.0.0.1
check "coordinator files unchanged" '[ "$(sum "$d/coordinator.crt" "$d/coordinator.key")" = "$old" ]'
refused "host with a space" 2 issue-coordinator "$d" "bad host"
refused "host with a comma" 2 issue-coordinator "$d" "a,DNS:evil"

# Nodes.
fca issue-node "$d" a && fca issue-node "$d" b && ok "issue-node a, b" || bad "issue-node a, b"
text "$d/nodes/a.crt" >"$tmp/t"
check "node CN" 'grep -q "Subject:.*CN = a$" "$tmp/t"'
check "node: clientAuth only" 'grep -A1 "Extended Key Usage" "$tmp/t" |
    grep -q "^ *TLS Web Client Authentication$" && ! grep -q "Server Auth" "$tmp/t"'
check "node keys 0600" '[ "$(mode "$d/nodes/a.key")" = 600 ] && [ "$(mode "$d/nodes/b.key")" = 600 ]'
check "nodes chain to the CA" 'verify "$d/nodes/a.crt" "$d/nodes/b.crt"'
check "node is not a server" '! verify -purpose sslserver "$d/nodes/a.crt"'
lasts "node" "$d/nodes/a.crt" 365
old=$(sum "$d/nodes/a.crt" "$d/nodes/a.key")
refused "second issue-node a" 1 issue-node "$d" a
check "node files unchanged" '[ "$(sum "$d/nodes/a.crt" "$d/nodes/a.key")" = "$old" ]'
long=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk
for n in "a/b" "../x" ".hidden" "a b" "" "é" "${long}x"; do
    refused "name '$n'" 2 issue-node "$d" "$n"
done
check "no files from refused names" '[ "$(ls "$d/nodes")" = "$(printf "a.crt\na.key\nb.crt\nb.key")" ]'
fca issue-node "$d" "$long" && ok "63-character name" || bad "63-character name"
fca issue-node --days 30 "$d" short && ok "--days 30" || bad "--days 30"
lasts "--days 30" "$d/nodes/short.crt" 30
refused "--days x" 2 issue-node --days x "$d" c
refused "--not-before alone" 2 issue-node --not-before 20200101000000Z "$d" c

# Revocation.
sb=$(serial "$d/nodes/b.crt")
fca revoke "$d" b && ok "revoke b" || bad "revoke b: $(cat "$tmp/err")"
check "revoked b fails the CRL check" '! verify_crl "$d/nodes/b.crt" && grep -q "revoked" "$tmp/v"'
check "a passes the CRL check" 'verify_crl "$d/nodes/a.crt"'
fca list "$d"
check "list: b revoked, a valid, coordinator valid" "grep -q '^b $sb [0-9T:-]*Z revoked\$' '$tmp/out' &&
    grep -q '^a [0-9A-F]* [0-9T:-]*Z valid\$' '$tmp/out' &&
    grep -q '^coordinator:127.0.0.1 [0-9A-F]* [0-9T:-]*Z valid\$' '$tmp/out'"
refused "revoking b again" 1 revoke "$d" b
refused "revoking an unknown node" 1 revoke "$d" nobody
refused "revoke a's serial as b" 1 revoke --serial "$(serial "$d/nodes/a.crt")" "$d" b
refused "revoke --serial of another CA" 1 revoke --serial ABCDEF "$d"
n1=$(openssl crl -in "$d/crl.pem" -noout -crlnumber | cut -d= -f2)
fca crl "$d" && ok "crl" || bad "crl"
n2=$(openssl crl -in "$d/crl.pem" -noout -crlnumber | cut -d= -f2)
next=$(date -d "$(openssl crl -in "$d/crl.pem" -noout -nextupdate | cut -d= -f2)" +%s)
left=$(((next - $(date +%s)) / 86400))
check "crl renews the list (number $n1 -> $n2, $left days left)" \
    '[ "$n1" != "$n2" ] && [ "$left" -ge 29 ] && [ "$left" -le 30 ] && verify_crl "$d/nodes/a.crt"'
check "a CRL past its 30 days fails every check" \
    '! verify_crl -attime $(($(date +%s) + 31 * 86400)) "$d/nodes/a.crt" && grep -q "CRL has expired" "$tmp/v"'

# Expiry.
fca issue-node --not-before 20200101000000Z --not-after 20210101000000Z "$d" old &&
    ok "issue an expired certificate" || bad "issue expired: $(cat "$tmp/err")"
check "expired certificate fails verify" '! verify "$d/nodes/old.crt" && grep -q "expired" "$tmp/v"'
fca list "$d"
check "list: old expired" "grep -q '^old [0-9A-F]* 2021-01-01T00:00:00Z expired\$' '$tmp/out'"

# Rotation: the new pair replaces the old, which stays valid until revoked by serial.
sa=$(serial "$d/nodes/a.crt")
old=$(sum "$d/nodes/a.crt" "$d/nodes/a.key")
fca issue-node --rotate "$d" a && ok "rotate a" || bad "rotate a: $(cat "$tmp/err")"
check "old pair kept as *.old" '[ "$(sum "$d/nodes/a.crt.old" "$d/nodes/a.key.old")" = "$old" ]'
check "new certificate, new serial, both valid" '[ "$(serial "$d/nodes/a.crt")" != "$sa" ] &&
    verify_crl "$d/nodes/a.crt" "$d/nodes/a.crt.old" && [ "$(mode "$d/nodes/a.key")" = 600 ]'
fca revoke --serial "$sa" "$d" a && ok "revoke --serial (old a)" || bad "revoke --serial: $(cat "$tmp/err")"
check "old a revoked, new a valid" '! verify_crl "$d/nodes/a.crt.old" && verify_crl "$d/nodes/a.crt"'
fca list "$d"
check "list: a twice, old revoked" "[ \$(grep -c '^a ' '$tmp/out') -eq 2 ] &&
    grep -q '^a $sa .* revoked\$' '$tmp/out'"
refused "rotate a node never issued" 1 issue-node --rotate "$d" nobody
rm "$d/nodes/short.key"
fca issue-node --rotate "$d" short && [ -f "$d/nodes/short.key" ] && [ ! -e "$d/nodes/short.key.old" ] &&
    ok "rotate after the key was deleted" || bad "rotate without key: $(cat "$tmp/err")"

# A real handshake: a server that demands a client certificate from this CA and checks the CRL.
port=
for try in 1 2 3; do
    # a port the kernel says is free; without python3 a guess, and a retry if it was taken
    p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
        2>/dev/null) || p=$((20000 + ($$ * 7 + try * 1009) % 40000))
    openssl s_server -accept "127.0.0.1:$p" -cert "$d/coordinator.crt" -key "$d/coordinator.key" \
        -CAfile "$d/ca.crt" -Verify 1 -verify_return_error -CRL "$d/crl.pem" -crl_check -www \
        </dev/null >"$tmp/server" 2>&1 &
    spid=$!
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        grep -q '^ACCEPT' "$tmp/server" && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.25
    done
    grep -q '^ACCEPT' "$tmp/server" && port=$p && break
    kill "$spid" 2>/dev/null
    spid=
done
# hello NAME CERTARGS...: a node's request; the server answers only after a good handshake
hello() {
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
        -servername localhost -verify_hostname localhost -CAfile "$d/ca.crt" -verify_return_error \
        -quiet "$@" >"$tmp/client" 2>&1
    grep -q '^HTTP/1.0 200 ok' "$tmp/client"
}
if [ -n "$port" ]; then
    hello -cert "$d/nodes/a.crt" -key "$d/nodes/a.key" && ok "TLS: node a connects" ||
        { bad "TLS: node a"; cat "$tmp/client"; }
    ! hello -cert "$d/nodes/b.crt" -key "$d/nodes/b.key" && grep -q "certificate revoked" "$tmp/client" &&
        ok "TLS: revoked node b refused" || bad "TLS: node b"
    ! hello -cert "$d/nodes/a.crt.old" -key "$d/nodes/a.key.old" && ok "TLS: a's old certificate refused" ||
        bad "TLS: a's old certificate"
    ! hello -cert "$d/nodes/old.crt" -key "$d/nodes/old.key" && grep -q "certificate expired" "$tmp/client" &&
        ok "TLS: expired certificate refused" || bad "TLS: expired certificate"
    ! hello && grep -q "certificate required" "$tmp/client" && ok "TLS: no certificate refused" ||
        bad "TLS: no certificate"
    ! hello -cert "$d/nodes/a.crt" -key "$d/nodes/a.key" -verify_hostname other.example &&
        ok "TLS: coordinator not named other.example" || bad "TLS: hostname check"
    kill "$spid" 2>/dev/null
    spid=
else
    bad "TLS: openssl s_server did not start"
    cat "$tmp/server"
fi

# docs/operations.md: every command in its certificate sections, as written, in order.
mkdir "$tmp/doc"
ln -s "$top/certs" "$tmp/doc/certs"
awk '/^## / { mine = ($0 ~ /^## (Certificates: set up the federation CA|Onboard a partner|Revoke a partner|Rotate certificates)$/) }
    /^```/ { code = !code; next }
    mine && code' "$top/docs/operations.md" >"$tmp/doc.cmds"
count=0
while IFS= read -r line; do
    count=$((count + 1))
    (cd "$tmp/doc" && sh -c "$line") >>"$tmp/all" 2>&1 && ok "doc: $line" || bad "doc: $line"
done <"$tmp/doc.cmds"
[ "$count" -ge 10 ] && ok "docs/operations.md: $count commands" || bad "docs/operations.md: $count commands"
fca list "$tmp/doc/ca"
check "doc run: clinic-south revoked, clinic-north rotated" \
    "grep -q '^clinic-south .* revoked\$' '$tmp/out' && [ \$(grep -c '^clinic-north .* valid\$' '$tmp/out') -eq 1 ] &&
    [ \$(grep -c '^clinic-north .* revoked\$' '$tmp/out') -eq 1 ]"

check "no key material ever printed" '! grep -q "PRIVATE KEY" "$tmp/all"'
finish
