#!/bin/sh
# deploy/ holds what an operator and the partners install: the example configurations,
# the systemd units, the container images and the Kubernetes manifests. This runs the
# programs with the example configurations as shipped (paths moved into a scratch
# folder, certificates from certs/fedrecall-ca): every option of the programs is a
# documented key there, the coordinator comes up and answers /v1/status over mutual
# TLS to its operator, a node joins and trains a round with it, and the same files with
# every commented key switched on still work. Then `systemd-analyze verify` on the units
# (when installed), the images' build files checked for what they copy and run as, and
# the manifests parsed and checked for their parts.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
root=$(pwd)

# Every option is a key of the example file (set or commented), under [dp] for dp-*.
keys_cover() { # NAME CONF HELP-TEXT
    missing=""
    for o in $(sed -n 's/^  --\([a-z0-9-]*\).*/\1/p' "$3"); do
        case "$o" in config | help) continue ;; esac
        k=$o
        sect=$(awk '/^\[dp\]/ {s = 1} s' "$2")
        case "$o" in
        dp-*) printf '%s\n' "$sect" | grep -Eq "^#? ?${o#dp-} = " || missing="$missing $o" ;;
        *) grep -Eq "^#? ?$k = " "$2" || missing="$missing $o" ;;
        esac
    done
    check "$1: every option is a documented key${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
}
"$COORD" serve --help >"$tmp/coord.help"
"$NODE" run --help >"$tmp/node.help"
keys_cover "coordinator.conf" deploy/config/coordinator.conf "$tmp/coord.help"
keys_cover "node.conf" deploy/config/node.conf "$tmp/node.help"

fed_pki shop-a shop-b operator || { bad "certificates"; finish; exit 1; }
fed_data 2 --users 240 --items 120 --clusters 4 --seed 3 || { bad "data"; finish; exit 1; }
mkdir -p "$tmp/etc" "$tmp/coord"
cp "$tmp/pki/coordinator.crt" "$tmp/pki/coordinator.key" "$tmp/pki/ca.crt" "$tmp/pki/crl.pem" "$tmp/etc/"
cp "$tmp/init.frm" "$tmp/coord/initial-model.frm"

# The shipped file with its paths moved; ALL=1 also switches every commented key on.
coord_conf() { # OUT STATE ALL
    sed -e "s#/etc/fedrecall/#$tmp/etc/#g" -e "s#/var/lib/fedrecall-coordinator#$2#g" \
        -e 's#^listen = .*#listen = 127.0.0.1:0#' deploy/config/coordinator.conf >"$1"
    [ "$3" = 1 ] && sed -i -E 's/^# ([a-z0-9-]+ = )/\1/; s#^dashboard-listen = .*#dashboard-listen = 127.0.0.1:0#' "$1"
    return 0
}
coord_conf "$tmp/coordinator.conf" "$tmp/coord" 0
# A federation of this test's size: one node opens a round, two rounds in all (plain:
# a secure round needs three members).
"$COORD" serve --config "$tmp/coordinator.conf" --min-nodes 1 --quorum 1 --rounds 2 --retry 1 \
    --secure-aggregation off --seq-len 20 --batch 32 --negatives 32 --lr 0.01 2>"$tmp/coord.log" &
COORD_PID=$!
pids="$pids $COORD_PID"
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$tmp/coord.log")
    [ -n "$PORT" ] && break
    kill -0 "$COORD_PID" 2>/dev/null || break
    sleep 0.1
done
check "coordinator starts with deploy/config/coordinator.conf (port $PORT)" '[ -n "$PORT" ]' ||
    cat "$tmp/coord.log"
code=$(fed_curl operator /v1/status -o "$tmp/status.json" -w '%{http_code}')
check "its operator reads /v1/status over mutual TLS (HTTP $code)" \
    '[ "$code" = 200 ] && python3 -m json.tool "$tmp/status.json" >/dev/null'
code=$(fed_curl shop-a /v1/status -o /dev/null -w '%{http_code}')
check "a node certificate may not (HTTP $code)" '[ "$code" = 403 ]'

# The node's file: its identity, the coordinator and this test's data.
node_conf() { # OUT NAME PART ALL
    sed -e "s#/etc/fedrecall/node\.#$tmp/pki/nodes/$2.#g" -e "s#/etc/fedrecall/signing.pub#$tmp/coord/signing.pub#" \
        -e "s#/etc/fedrecall/#$tmp/pki/#g" -e "s#/srv/fedrecall/data#$tmp/$3#" \
        -e "s#/var/lib/fedrecall-node#$tmp/state-$2#" -e "s#^coordinator = .*#coordinator = https://127.0.0.1:$PORT#" \
        -e 's#^format = .*#format = movielens-csv#' -e 's#^threads = .*#threads = 1#' \
        deploy/config/node.conf >"$1"
    [ "$4" = 1 ] && sed -i -E 's/^# ([a-z0-9-]+ = )/\1/; s/^event-filter = value/event-filter = rating/' "$1"
    # this test's rounds are plain ones of a single node: the node must agree to them
    echo "require-secure-aggregation = false" >>"$1"
    return 0
}
node_conf "$tmp/shop-a.conf" shop-a part1 0
"$NODE" run --config "$tmp/shop-a.conf" --max-rounds 1 >"$tmp/shop-a.log" 2>&1 &
pa=$!
pids="$pids $pa"
fed_wait "$pa" 240
wait "$pa"
rc=$?
check "node with deploy/config/node.conf joined and trained a round (exit $rc)" \
    '[ "$rc" = 0 ] && grep -Eq "round 1: (masked )?update sent" "$tmp/shop-a.log"' || tail -n 5 "$tmp/shop-a.log"
"$NODE" privacy status --state-dir "$tmp/state-shop-a" >"$tmp/privacy" 2>&1
check "with DP and the budget the example sets ($(head -n 1 "$tmp/privacy" | sed 's/.*: //'))" \
    'grep -q "^budget epsilon 8:" "$tmp/privacy" && grep -q "DP steps, epsilon spent" "$tmp/privacy"'

# Every commented key switched on: the node still parses and trains round 2.
node_conf "$tmp/shop-b.conf" shop-b part2 1
check "node.conf with every key set: $(grep -c '^[a-z]' "$tmp/shop-b.conf") keys" \
    '[ "$(grep -c "^[a-z]" "$tmp/shop-b.conf")" -ge 30 ]'
"$NODE" run --config "$tmp/shop-b.conf" --max-rounds 1 >"$tmp/shop-b.log" 2>&1 &
pb=$!
pids="$pids $pb"
fed_wait "$pb" 240
wait "$pb"
rc=$?
check "node with every key set trained round 2 (exit $rc)" \
    '[ "$rc" = 0 ] && grep -Eq "round 2: (masked )?update sent" "$tmp/shop-b.log"' || tail -n 5 "$tmp/shop-b.log"
"$COORD" report --state-dir "$tmp/coord" >"$tmp/report"
check "the coordinator published both rounds" '[ "$(grep -c " published " "$tmp/report")" = 2 ]'
kill "$COORD_PID"
fed_wait "$COORD_PID" 10 || bad "coordinator did not stop"

# The coordinator's file with every commented key switched on.
mkdir -p "$tmp/coord2"
cp "$tmp/init.frm" "$tmp/coord2/initial-model.frm"
coord_conf "$tmp/coordinator-all.conf" "$tmp/coord2" 1
"$COORD" serve --config "$tmp/coordinator-all.conf" 2>"$tmp/coord2.log" &
p2=$!
pids="$pids $p2"
for _ in $(seq 1 100); do
    grep -q "listening on" "$tmp/coord2.log" && break
    kill -0 "$p2" 2>/dev/null || break
    sleep 0.1
done
check "coordinator.conf with every key set: $(grep -c '^[a-z]' "$tmp/coordinator-all.conf") keys, it starts" \
    'grep -q "listening on" "$tmp/coord2.log" && grep -q "dashboard on" "$tmp/coord2.log"' ||
    cat "$tmp/coord2.log"
kill "$p2" 2>/dev/null

# The systemd units, pointed at this build's programs.
if command -v systemd-analyze >/dev/null 2>&1; then
    for u in deploy/systemd/*.service; do
        sed "s#/usr/local/bin/#$root/$BUILD/#" "$u" >"$tmp/$(basename "$u")"
        systemd-analyze verify "$tmp/$(basename "$u")" >"$tmp/verify.log" 2>&1
        check "systemd-analyze verify $(basename "$u")" '[ $? = 0 ] && [ ! -s "$tmp/verify.log" ]' ||
            cat "$tmp/verify.log"
    done
else
    echo "skip    systemd-analyze verify: systemd-analyze is not installed"
fi
for u in deploy/systemd/*.service; do
    missing=""
    for k in User= StateDirectory= ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
        Restart=on-failure ProtectHome=yes CapabilityBoundingSet= SystemCallFilter=; do
        grep -q "^$k" "$u" || missing="$missing $k"
    done
    check "$(basename "$u") hardened${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
    cmd=$(sed -n 's#^ExecStart=/usr/local/bin/\([a-z-]*\) \(.*\)#\1 \2#p' "$u")
    conf=$(echo "$cmd" | sed -n 's#.*--config /etc/fedrecall/\([a-z]*\.conf\).*#\1#p')
    check "$(basename "$u") starts $cmd, whose file is deploy/config/$conf" \
        '[ -n "$conf" ] && [ -f "deploy/config/$conf" ]'
done

# The images' build files: what they copy exists, the base is a build argument whose
# default is pinned, they run unprivileged (tests/cli_images.sh builds and runs them).
for f in deploy/docker/Dockerfile.coordinator deploy/docker/Dockerfile.node; do
    gone=""
    for src in $(awk '$1 == "COPY" && $2 !~ /^--from/ {for (i = 2; i < NF; i++) print $i}' "$f"); do
        [ -e "$src" ] || gone="$gone $src"
    done
    check "$(basename "$f"): every COPY source exists${gone:+ (missing:$gone)}" '[ -z "$gone" ]'
    check "$(basename "$f"): two stages on ARG BASE=debian:12-slim, a non-root user" \
        '[ "$(grep -c "^FROM \${BASE}" "$f")" = 2 ] && grep -qx "ARG BASE=debian:12-slim" "$f" &&
         grep -q "^USER 10001" "$f" && grep -q "COPY --from=build" "$f"'
done
check "Dockerfile.node-gpu: the CPU node image plus the CUDA backend" \
    'grep -q "^FROM \${NODE_IMAGE}" deploy/docker/Dockerfile.node-gpu &&
     grep -q "^ENV FR_CUDA_LIB=/usr/local/lib/fedrecall/libfedrecall_cuda.so" deploy/docker/Dockerfile.node-gpu'
check ".dockerignore keeps build outputs out of the context" 'grep -qx build .dockerignore'

# The manifests parse, hold their parts, and their configurations use real keys. Without
# PyYAML, a plainer check of the same parts.
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "skip    YAML parsing: python3 has no yaml module; checking the text instead"
    for f in deploy/k8s/*.yaml; do
        name=$(basename "$f" .yaml)
        awk '/^    [a-z-]+ = / && on {sub(/^    /, ""); print} /^  [a-z]+\.conf: \|$/ {on = 1} /^---/ {on = 0}' "$f" \
            >"$tmp/k8s-$name.conf"
    done
    check "Kubernetes manifests: no tabs, every document has apiVersion and kind, the parts are there" \
        '! grep -q "$(printf "\t")" deploy/k8s/*.yaml &&
         [ "$(grep -c "^kind:" deploy/k8s/coordinator.yaml)" = 3 ] && [ "$(grep -c "^apiVersion:" deploy/k8s/node.yaml)" = 3 ] &&
         grep -q "^kind: StatefulSet" deploy/k8s/coordinator.yaml && grep -q "volumeClaimTemplates:" deploy/k8s/coordinator.yaml &&
         grep -q "secretName:" deploy/k8s/coordinator.yaml && grep -q "nvidia.com/gpu: 1" deploy/k8s/node.yaml && grep -q "image: fedrecall-node-gpu:latest" deploy/k8s/node.yaml'
    echo ok >"$tmp/k8s.out"
fi
python3 -c 'import yaml' 2>/dev/null && python3 - "$tmp" >"$tmp/k8s.out" 2>&1 <<'PY'
import sys, yaml
tmp = sys.argv[1]
docs = {}
for f in ("deploy/k8s/coordinator.yaml", "deploy/k8s/node.yaml"):
    for d in yaml.safe_load_all(open(f)):
        if d:
            assert d["metadata"]["namespace"] == "fedrecall", f
            docs[(f, d["kind"])] = d
sts = docs[("deploy/k8s/coordinator.yaml", "StatefulSet")]["spec"]
pod = sts["template"]["spec"]
assert sts["replicas"] == 1 and sts["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
assert mounts["state"] == "/var/lib/fedrecall-coordinator", mounts
assert any("secret" in v for v in pod["volumes"]), "certificates from a Secret"
svc = docs[("deploy/k8s/coordinator.yaml", "Service")]["spec"]
assert svc["ports"][0]["port"] == 8443 and svc["selector"] == sts["selector"]["matchLabels"]
dep = docs[("deploy/k8s/node.yaml", "Deployment")]["spec"]
c = dep["template"]["spec"]["containers"][0]
assert int(c["resources"]["limits"]["nvidia.com/gpu"]) >= 1
assert dep["strategy"]["type"] == "Recreate"
for f, name in (("deploy/k8s/coordinator.yaml", "coordinator.conf"), ("deploy/k8s/node.yaml", "node.conf")):
    open(f"{tmp}/k8s-{name.replace('.conf', '')}.conf", "w").write(docs[(f, "ConfigMap")]["data"][name])
print("ok")
PY
check "Kubernetes manifests: StatefulSet with a volume and a Secret, Service, GPU Deployment" \
    'grep -qx ok "$tmp/k8s.out"' || cat "$tmp/k8s.out"
unknown=""
for pair in "coordinator:coord.help" "node:node.help"; do
    conf=$tmp/k8s-${pair%%:*}.conf
    for k in $(sed -n 's/^\([a-z0-9-]*\) = .*/\1/p' "$conf"); do
        grep -q "^  --$k \|^  --dp-$k " "$tmp/${pair#*:}" || unknown="$unknown $k"
    done
done
# and so does the node configuration shown in docs/operations.md
awk '/^## / {on = ($0 == "## Run a node")} /^```/ {code = !code; next} on && code' docs/operations.md \
    >"$tmp/k8s-doc.conf"
for k in $(sed -n 's/^\([a-z0-9-]*\) = .*/\1/p' "$tmp/k8s-doc.conf"); do
    grep -q "^  --$k \|^  --dp-$k " "$tmp/node.help" || unknown="$unknown doc:$k"
done
check "the manifests' and docs' configurations use real keys${unknown:+ (unknown:$unknown)}" \
    '[ -z "$unknown" ] && [ "$(cat "$tmp"/k8s-*.conf | grep -c " = ")" -ge 25 ]'
finish
