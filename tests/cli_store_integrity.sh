#!/bin/sh
# The coordinator's store checked at start: a coordinator.db emptied (or replaced by a
# new one) while STATE/models/ holds published versions, and one with a damaged page,
# are refused with one line naming the file and saying to restore from a backup;
# the good copy put back starts again at its version.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 || { bad "certificates"; finish; exit 1; }
fed_data 1 --users 60 --items 40 --clusters 2 --seed 3 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
fed_start_coord "$STATE" --min-nodes 1 || { bad "coordinator start"; finish; exit 1; }
kill "$COORD_PID"
fed_wait "$COORD_PID" 10 || bad "coordinator ignored SIGTERM"
# a published version 1, as after a round
cp "$STATE/models/model-000000.frm" "$STATE/models/model-000001.frm"
cp "$STATE/coordinator.db" "$tmp/good.db"

# start_once: the coordinator in the foreground for at most 6 s; sets rc, and err
# (its stderr)
start_once() {
    timeout 6 "$COORD" --listen 127.0.0.1:0 --cert "$tmp/pki/coordinator.crt" \
        --key "$tmp/pki/coordinator.key" --ca "$tmp/pki/ca.crt" --crl "$tmp/pki/crl.pem" \
        --state-dir "$STATE" >/dev/null 2>"$tmp/start.err"
    rc=$?
    err=$(cat "$tmp/start.err")
}

refused() {
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(wc -l <"$tmp/start.err")" -eq 1 ] &&
        grep -q "coordinator.db" "$tmp/start.err" && grep -q "backup" "$tmp/start.err" &&
        grep -q "$2" "$tmp/start.err"; then
        ok "$1: refused ($err)"
    else
        bad "$1: exit $rc: $err"
    fi
}

: >"$STATE/coordinator.db"
rm -f "$STATE/coordinator.db-wal" "$STATE/coordinator.db-shm"
start_once
refused "empty coordinator.db beside published models" "records no model"
start_once
refused "and again at the next start" "records no model"

# a damaged page: the last page of the file overwritten
cp "$tmp/good.db" "$STATE/coordinator.db"
size=$(wc -c <"$STATE/coordinator.db")
pages=$((size / 4096))
head -c 4096 /dev/urandom | dd of="$STATE/coordinator.db" bs=4096 seek=$((pages - 1)) \
    conv=notrunc 2>/dev/null
start_once
refused "coordinator.db with a damaged page ($pages pages)" "damaged\|malformed"

cp "$tmp/good.db" "$STATE/coordinator.db"
start_once
if [ "$rc" -eq 124 ] && grep -q "version 0" "$tmp/start.err" && ! grep -q "damaged" "$tmp/start.err"
then
    ok "the good copy put back starts"
else
    bad "good copy: exit $rc: $(head -n 3 "$tmp/start.err")"
fi
finish
