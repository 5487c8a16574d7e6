#!/bin/sh
# An operator's life as docs/operations.md tells it, every command of its sections
# "Install", "Watch the federation", "Back up and restore the coordinator" and
# "Upgrade" run as written, in order: install the coordinator and three partners' nodes
# as services (each partner on its own scratch machine), run secure rounds, watch them, back up while the coordinator runs, destroy the state folder,
# restore it, and show that the federation continues from the same model version (the
# next round trains from it, the nodes still verify its signatures); then upgrade.
# Last, a backup taken with a round open restores that round with its accepted update.
#
# The commands run under a scratch root: absolute paths (/etc, /var, /srv, /usr) move
# into it, the coordinator's name resolves to 127.0.0.1 on a free port, and the few
# commands that would change this machine are stand-ins: `systemctl` starts and stops
# the unit's ExecStart line itself, `useradd` and `make` do nothing, `install` drops
# its owner and group, `podman` and `kubectl` check the images and files they are given.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
top=$(pwd)
R="$tmp/root"
W="$tmp/work"
P="$tmp/partner"
R2="$tmp/root-b" # the second partner's machine
P2="$tmp/partner-b"
R3="$tmp/root-c" # the third's: a secure round needs three members
P3="$tmp/partner-c"
ROOT=$R          # the machine the commands run on
# what a Debian machine has before the install
mkdir -p "$R/usr/local/bin" "$R/etc/systemd/system" "$R/var/lib" "$R/var/backups" \
    "$R/srv/fedrecall/catalogue" "$W" "$P" "$R2/usr/local/bin" "$R2/etc/systemd/system" \
    "$R2/var/lib" "$R2/srv/fedrecall" "$P2" "$R3/usr/local/bin" "$R3/etc/systemd/system" \
    "$R3/var/lib" "$R3/srv/fedrecall" "$P3"
for d in "$W" "$P" "$P2" "$P3"; do
    ln -s "$top/deploy" "$d/deploy" && ln -s "$top/certs" "$d/certs" && ln -s "$top/$BUILD" "$d/build"
done
PATH="$R/usr/local/bin:$PATH"
export PATH
PORT=0

# The commands of one section (## or ###, up to the next heading of its level or above).
doc_cmds() {
    awk -v want="$1" '
        /^#+ / { lvl = length($1); if (lvl <= cur) on = 0; if (substr($0, lvl + 2) == want) { on = 1; cur = lvl } else if (!on) cur = 0 }
        /^```/ { code = !code; next }
        on && code' "$top/docs/operations.md"
}
rewrite() {
    printf '%s\n' "$1" | sed -e "s#\([ =:]\)/\(etc\|var\|srv\|usr\)/#\1$ROOT/\2/#g" \
        -e "s#https://fedrecall.example.org:8443#https://127.0.0.1:$PORT#g"
}
# doc_run SECTION DIR: each command in DIR; a failed one is reported with its output.
# DOC_SED, when set, edits each command first (another partner's name).
doc_run() {
    n=0
    doc_cmds "$1" | sed -e "${DOC_SED:-}" >"$tmp/cmds"
    while IFS= read -r line; do
        n=$((n + 1))
        # in this shell, not a subshell: the stand-ins keep what they started
        cd "$2" || return 1
        { eval "$(rewrite "$line")"; } >"$tmp/cmd.out" 2>&1 </dev/null
        rc=$?
        cd "$top" || return 1
        if [ "$rc" = 0 ]; then ok "$1: $line"; else bad "$1: $line (exit $rc)"; tail -n 5 "$tmp/cmd.out"; fi
        cat "$tmp/cmd.out" >>"$tmp/all.out"
    done <"$tmp/cmds"
    check "$1: $n commands" '[ "$n" -ge 1 ]'
}

# Stand-ins for the commands that would change this machine.
make() { echo "make $*" >>"$tmp/stubs"; }
useradd() { echo "useradd $*" >>"$tmp/stubs"; }
sudo() { [ "$1" = -u ] && shift 2; "$@"; }
install() {
    args=""
    while [ $# -gt 0 ]; do
        case "$1" in -o | -g) shift 2 ;; *) args="$args $(printf '%s' "$1")"; shift ;; esac
    done
    # shellcheck disable=SC2086 # the paths hold no blanks
    command install $args
}
# a run names one of the images `make images` builds (tests/cli_images.sh runs them)
podman() {
    echo "podman $*" >>"$tmp/stubs"
    for a in "$@"; do :; done
    [ "$1" != run ] && return 0
    case "$a" in fedrecall-coordinator:latest | fedrecall-node:latest | fedrecall-node-gpu:latest) ;;
    *) return 1 ;; esac
}
kubectl() {
    echo "kubectl $*" >>"$tmp/stubs"
    for a in "$@"; do
        case "$a" in --from-file=*) [ -f "${a#*=*=}" ] || return 1 ;; esac
    done
    while [ $# -gt 0 ]; do
        [ "$1" = -f ] && { [ -f "$2" ] || return 1; }
        shift
    done
}
# The settings an operator edits before starting, for this test's loopback federation
# of three partners.
COORD_EXTRA="--min-nodes 3 --rounds 2 --retry 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01"
NODE_EXTRA=""
svc_start() {
    unit="$ROOT/etc/systemd/system/$1.service"
    cmd=$(rewrite " $(sed -n 's/^ExecStart=//p' "$unit")")
    case "$1" in
    fedrecall-coordinator)
        sed -i "s#^listen = .*#listen = 127.0.0.1:0#; s#= /\(etc\|var\)/#= $R/\1/#" "$R/etc/fedrecall/coordinator.conf"
        skip=$(cat "$tmp/coord.log" 2>/dev/null | wc -l)
        # shellcheck disable=SC2086
        $cmd $COORD_EXTRA 2>>"$tmp/coord.log" &
        COORD_PID=$!
        pids="$pids $COORD_PID"
        for _ in $(seq 1 100); do
            PORT=$(tail -n +$((skip + 1)) "$tmp/coord.log" | sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p')
            [ -n "$PORT" ] && return 0
            kill -0 "$COORD_PID" 2>/dev/null || return 1
            sleep 0.1
        done
        return 1 ;;
    fedrecall-node)
        sed -i "s#^coordinator = .*#coordinator = https://127.0.0.1:$PORT#; s#^format = .*#format = movielens-csv#; s#^threads = .*#threads = 1#; s#= /\(etc\|var\|srv\)/#= $ROOT/\1/#" \
            "$ROOT/etc/fedrecall/node.conf"
        # shellcheck disable=SC2086
        $cmd $NODE_EXTRA >>"$tmp/node${NODE_TAG:-}.log" 2>&1 &
        NODE_PID=$!
        pids="$pids $NODE_PID" ;;
    esac
}
svc_stop() {
    p=$COORD_PID
    [ "$1" = fedrecall-node ] && p=$NODE_PID
    kill "$p" 2>/dev/null
    fed_wait "$p" 30
}
systemctl() {
    echo "systemctl $*" >>"$tmp/stubs"
    case "$1" in
    daemon-reload) ;;
    enable) [ "$2" = --now ] && svc_start "$3" ;;
    start) svc_start "$2" ;;
    stop) svc_stop "$2" ;;
    *) return 1 ;;
    esac
}

# The operator's CA and catalogue, the partner's data.
(cd "$W" && certs/fedrecall-ca init ca && certs/fedrecall-ca issue-coordinator ca 127.0.0.1 localhost &&
    certs/fedrecall-ca issue-node ca shop-a && certs/fedrecall-ca issue-node ca shop-b &&
    certs/fedrecall-ca issue-node ca shop-c) \
    >/dev/null 2>&1 || bad "CA"
"$NODE" synth --users 240 --items 120 --clusters 4 --seed 9 --out "$R/srv/fedrecall/data" >/dev/null
"$NODE" synth --users 200 --items 120 --clusters 4 --seed 10 --out "$R2/srv/fedrecall/data" >/dev/null
"$NODE" synth --users 160 --items 120 --clusters 4 --seed 11 --out "$R3/srv/fedrecall/data" >/dev/null
cp "$R/srv/fedrecall/data/movies.csv" "$R/srv/fedrecall/catalogue/"

doc_run "The coordinator as a systemd service" "$W"
code=$(curl -sS --max-time 10 --cacert "$W/ca/ca.crt" --cert "$W/ca/nodes/shop-a.crt" \
    --key "$W/ca/nodes/shop-a.key" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/v1/task")
check "the installed coordinator answers a node (HTTP $code)" '[ "$code" = 200 ]'
cp "$W/ca/nodes/shop-a.crt" "$W/ca/nodes/shop-a.key" "$W/ca/ca.crt" "$W/ca/crl.pem" \
    "$R/var/lib/fedrecall-coordinator/signing.pub" "$P/"
doc_run "A node as a systemd service" "$P"
NODE_A_PID=$NODE_PID
# the second partner installs its node the same way, on its machine, with its name
cp "$W/ca/nodes/shop-b.crt" "$W/ca/nodes/shop-b.key" "$W/ca/ca.crt" "$W/ca/crl.pem" \
    "$R/var/lib/fedrecall-coordinator/signing.pub" "$P2/"
ROOT=$R2 NODE_TAG=-b DOC_SED="s/shop-a/shop-b/g"
doc_run "A node as a systemd service" "$P2"
NODE_B_PID=$NODE_PID
cp "$W/ca/nodes/shop-c.crt" "$W/ca/nodes/shop-c.key" "$W/ca/ca.crt" "$W/ca/crl.pem" \
    "$R/var/lib/fedrecall-coordinator/signing.pub" "$P3/"
ROOT=$R3 NODE_TAG=-c DOC_SED="s/shop-a/shop-c/g"
doc_run "A node as a systemd service" "$P3"
ROOT=$R NODE_TAG="" DOC_SED=""
NODE_C_PID=$NODE_PID
NODE_PID=$NODE_A_PID
fed_wait "$NODE_A_PID" 240 && fed_wait "$NODE_B_PID" 240 && fed_wait "$NODE_C_PID" 240 &&
    ok "the three nodes ran until the federation's end" ||
    { bad "nodes still running"; tail -n 5 "$tmp/node.log" "$tmp/node-b.log" "$tmp/node-c.log"; }
check "the rounds were secure, with the three partners as members" \
    'grep -q "round 1 is secure: 3 members" "$tmp/coord.log" &&
     grep -q "round 2: unmasked the sum of 3 members" "$tmp/coord.log"'

doc_run "Watch the federation" "$W"
check "status and the dashboard show version 2" \
    'grep -q "^model version 2 " "$tmp/all.out" && grep -q "id=\"model-version\">2<" "$W/dashboard.html"'
doc_run "Containers" "$W"
doc_run "Kubernetes" "$W"
check "the image and manifest commands name real files" \
    'grep -qx "make images" "$tmp/stubs" && [ "$(grep -c "^podman run .* fedrecall-[a-z-]*:latest$" "$tmp/stubs")" = 3 ] &&
     grep -q "^kubectl -n fedrecall apply -f deploy/k8s/coordinator.yaml" "$tmp/stubs"'

# Back up while it runs, destroy, restore.
STATE="$R/var/lib/fedrecall-coordinator"
cp "$STATE/models/model-000002.frm" "$tmp/v2.frm"
cp "$STATE/signing.pub" "$tmp/signing.pub"
doc_cmds "Back up and restore the coordinator" >"$tmp/br"
head -n 1 "$tmp/br" >"$tmp/backup.cmd"
check "the section's first command is the backup" 'grep -q "^fedrecall-coordinator backup " "$tmp/backup.cmd"'
# after the restore one partner carries on alone (plain rounds: a secure round needs three),
# which its node takes part in only when its own configuration allows plain rounds
echo "require-secure-aggregation = false" >>"$R/etc/fedrecall/node.conf"
COORD_EXTRA="--min-nodes 1 --quorum 1 --rounds 4 --retry 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01 --secure-aggregation off"
doc_run "Back up and restore the coordinator" "$W"
B="$R/var/backups/fedrecall/2026-11-29"
check "the backup says what it holds" 'grep -q "^backup of .*: model version 2, 2 rounds" "$tmp/all.out"'
check "the backup folder is private, its key too" \
    '[ "$(stat -c %a "$B")" = 700 ] && [ "$(stat -c %a "$B/signing.key")" = 600 ]'
check "the restored coordinator starts from version 2 with the same key" \
    'tail -n 3 "$tmp/coord.log" | grep -q "listening on .* version 2," && cmp -s "$tmp/signing.pub" "$STATE/signing.pub" &&
     cmp -s "$tmp/v2.frm" "$STATE/models/model-000002.frm"'
systemctl start fedrecall-node
fed_wait "$NODE_PID" 240 && ok "the node carried on to the federation's new end" ||
    { bad "node still running"; tail -n 5 "$tmp/node.log"; }
"$COORD" status --url "https://127.0.0.1:$PORT" --cert "$W/ca/operators/operator.crt" \
    --key "$W/ca/operators/operator.key" --ca "$W/ca/ca.crt" --json >"$tmp/status.json"
from=$(python3 -c "import json,sys; print([r['model_version'] for r in json.load(open(sys.argv[1]))['rounds'] if r['round'] == 3][0])" "$tmp/status.json")
check "round 3 trained from the restored version 2 (it says $from)" '[ "$from" = 2 ]'
"$COORD" report --state-dir "$STATE" >"$tmp/report"
check "rounds 3 and 4 published versions 3 and 4" \
    'grep -q "^3  *published  *1  *3 " "$tmp/report" && grep -q "^4  *published  *1  *4 " "$tmp/report"'
check "the node verified the new versions with the key it had" \
    'grep -q "model version 4 installed .*signature verified" "$tmp/node.log"'

doc_run "Upgrade" "$W"
check "after the upgrade it resumes at version 4, the backup before it holds version 4" \
    'tail -n 3 "$tmp/coord.log" | grep -q "listening on .* version 4," &&
     [ -f "$R/var/backups/fedrecall/before-upgrade/models/model-000004.frm" ]'
"$COORD" backup --state-dir "$STATE" --out "$R/var/backups/fedrecall/before-upgrade" 2>"$tmp/err"
rc=$?
check "backup refuses a folder that exists (exit $rc)" '[ "$rc" = 2 ] && grep -q "new folder" "$tmp/err"'
"$COORD" backup --state-dir "$tmp" --out "$tmp/nothing" 2>"$tmp/err"
rc=$?
check "backup refuses a folder without a database (exit $rc)" '[ "$rc" = 2 ] && grep -q "no coordinator database" "$tmp/err"'

# A backup taken while a round is open holds the updates it has accepted: a round that
# waits for two updates gets one, then the state is backed up, destroyed and restored.
# A plain round keeps each accepted update as a file until it closes (a secure round
# keeps nothing and is aborted by a restart).
svc_stop fedrecall-coordinator
COORD_EXTRA="--min-nodes 1 --quorum 2 --rounds 6 --retry 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01 --secure-aggregation off"
systemctl start fedrecall-coordinator
systemctl start fedrecall-node
for _ in $(seq 1 600); do
    grep -q "round 5: update from shop-a accepted (1 of 2" "$tmp/coord.log" && break
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
done
svc_stop fedrecall-node
O="$R/var/backups/fedrecall/open-round"
"$COORD" backup --state-dir "$STATE" --out "$O" >/dev/null 2>&1
check "a backup with round 5 open holds its update" '[ -s "$O/rounds/5/shop-a.update" ]'
systemctl stop fedrecall-coordinator
rm -rf "$STATE"
cp -a "$O" "$STATE"
systemctl start fedrecall-coordinator
check "restored, round 5 resumes with that update" \
    'tail -n 3 "$tmp/coord.log" | grep -q "round 5 resumed on version 4 with 1 updates from disk"'
svc_stop fedrecall-coordinator && ok "coordinator stops" || bad "coordinator did not stop"
finish
