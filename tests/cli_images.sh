#!/bin/sh
# The container images, built and run: `make images` as docs/operations.md says, then
# from each image's own file system (exported, entered with chroot as the image's user
# and environment) a coordinator and three nodes train two secure rounds on loopback with
# the shipped example configurations, the operator's `status` and the dashboard
# answer; the GPU image's CUDA backend finds every library it links; the docs' run
# lines and the Kubernetes manifests name images, volumes, ports and secret keys that
# the images have. Needs podman and root (FR_WITH_OPS=1 deploy/install-deps.sh);
# skips without them.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
if ! command -v podman >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "skip    container images: needs podman and root (FR_WITH_OPS=1 deploy/install-deps.sh)"
    finish
    exit
fi
E="podman --cgroup-manager=cgroupfs"

# The docs' build line, run as written.
awk '/^### Containers/ {on = 1; next} /^##/ {on = 0} /^```/ {code = !code; next} on && code' \
    docs/operations.md >"$tmp/doc-lines"
build_line=$(grep '^make images' "$tmp/doc-lines" | head -n 1)
check "docs/operations.md builds the images with: $build_line" '[ -n "$build_line" ]'
sh -c "$build_line" >"$tmp/images.log" 2>&1
rc=$?
check "make images (exit $rc): $(grep -c '^images: .*fedrecall-.*:latest [0-9]' "$tmp/images.log") images" \
    '[ "$rc" = 0 ]' || tail -n 20 "$tmp/images.log"
grep '^images: .*:latest [0-9]' "$tmp/images.log"
images="coordinator node"
$E image exists fedrecall-node-gpu:latest && images="$images node-gpu"

# root IMAGE: the image's file system under $tmp/root-IMAGE, its environment in
# $tmp/env-IMAGE; run_in IMAGE CMD...: run CMD there as the image's user.
root() {
    mkdir -p "$tmp/root-$1"
    cid=$($E create "fedrecall-$1:latest") || return 1
    $E export "$cid" | tar -x -C "$tmp/root-$1" || return 1
    $E rm "$cid" >/dev/null
    $E image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "fedrecall-$1:latest" |
        grep . >"$tmp/env-$1"
}
run_in() (
    img=$1
    shift
    # shellcheck disable=SC2046
    exec chroot --userspec="$(cat "$tmp/user-$img")" "$tmp/root-$img" env -i PATH=/usr/local/bin:/usr/bin:/bin $(cat "$tmp/env-$img") "$@"
)
# stop_in IMAGE: end every process running in IMAGE's file system (a background
# run_in's $! is the shell around it, not the program).
stop_in() {
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$tmp/root-$1" ] && kill "${p#/proc/}" 2>/dev/null
    done
    for _ in $(seq 1 100); do
        left=0
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/root" 2>/dev/null)" = "$tmp/root-$1" ] && left=1
        done
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}
trap 'stop_in coordinator; stop_in node; for p in $pids; do kill -9 $p 2>/dev/null; done
      [ -n "${FR_KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
for i in $images; do
    root "$i" || { bad "fedrecall-$i: export"; continue; }
    $E image inspect --format '{{.Config.User}}' "fedrecall-$i:latest" >"$tmp/user-$i"
    check "fedrecall-$i runs as $(cat "$tmp/user-$i"), has no compiler" \
        '[ "$(cat "$tmp/user-$i")" = 10001:10001 ] && [ ! -e "$tmp/root-$i/usr/bin/cc" ] &&
         [ ! -e "$tmp/root-$i/usr/bin/gcc" ] && [ ! -e "$tmp/root-$i/usr/include/stdio.h" ]'
    for p in "$tmp/root-$i"/usr/local/bin/fedrecall-*; do
        run_in "$i" ldd "/usr/local/bin/${p##*/}" >"$tmp/ldd" 2>&1
        check "fedrecall-$i: ${p##*/} finds every library ($(wc -l <"$tmp/ldd") linked)" \
            '! grep -q "not found" "$tmp/ldd"' || cat "$tmp/ldd"
    done
done

# The GPU image: the backend's libraries resolve, and without a GPU the node says so
# and trains on the CPU (not a missing library).
if [ -d "$tmp/root-node-gpu" ]; then
    run_in node-gpu ldd /usr/local/lib/fedrecall/libfedrecall_cuda.so >"$tmp/ldd" 2>&1
    check "fedrecall-node-gpu: the CUDA backend finds cuBLAS and the rest ($(grep -c cublas "$tmp/ldd") cuBLAS libraries)" \
        '! grep -q "not found" "$tmp/ldd" && grep -q "libcublas.so" "$tmp/ldd"' || cat "$tmp/ldd"
    "$NODE" synth --users 60 --items 40 --seed 2 --out "$tmp/root-node-gpu/tmp/sd" >/dev/null
    chmod -R a+rX "$tmp/root-node-gpu/tmp/sd"
    run_in node-gpu /usr/local/bin/fedrecall-node train --data /tmp/sd --format movielens-csv \
        --epochs 1 --device cuda >"$tmp/gpu.log" 2>&1
    check "fedrecall-node-gpu loads its CUDA backend ($(tail -n 1 "$tmp/gpu.log" | cut -c1-80))" \
        'grep -q "no CUDA device\|epoch *1" "$tmp/gpu.log" && ! grep -qi "cannot open\|not found" "$tmp/gpu.log"'
    run_in node-gpu /usr/local/bin/fedrecall-node train --data /tmp/sd --format movielens-csv \
        --epochs 1 --device auto >"$tmp/gpu.log" 2>&1
    check "fedrecall-node-gpu with --device auto trains (on the CPU without a GPU)" \
        '[ $? = 0 ] && grep -q "^epoch *1" "$tmp/gpu.log"' || tail -n 3 "$tmp/gpu.log"
else
    echo "skip    fedrecall-node-gpu: not built (no CUDA backend in this build)"
fi

# A federation from the images: certificates and data made here, put where the
# shipped configurations expect them, owned by the images' user.
fed_pki shop-a shop-b shop-c operator || { bad "certificates"; finish; exit 1; }
fed_data 3 --users 300 --items 100 --clusters 4 --seed 5 || { bad "data"; finish; exit 1; }
C=$tmp/root-coordinator
N=$tmp/root-node
cp "$tmp/pki/coordinator.crt" "$tmp/pki/coordinator.key" "$tmp/pki/ca.crt" "$tmp/pki/crl.pem" \
    "$tmp/pki/nodes/operator.crt" "$tmp/pki/nodes/operator.key" "$C/etc/fedrecall/"
sed -e 's#^listen = .*#listen = 127.0.0.1:0#' "$C/etc/fedrecall/coordinator.conf.example" \
    >"$C/etc/fedrecall/coordinator.conf"
cp "$tmp/init.frm" "$C/var/lib/fedrecall-coordinator/initial-model.frm"
chown -R 10001:10001 "$C/etc/fedrecall" "$C/var/lib/fedrecall-coordinator"
run_in coordinator /usr/local/bin/fedrecall-coordinator serve --config /etc/fedrecall/coordinator.conf \
    --rounds 2 --retry 1 --seq-len 20 --batch 32 --negatives 32 --lr 0.01 \
    --dashboard-listen 127.0.0.1:0 2>"$tmp/coord.log" &
COORD_PID=$!
pids="$pids $COORD_PID"
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$tmp/coord.log")
    [ -n "$PORT" ] && break
    sleep 0.1
done
DPORT=$(sed -n 's/.*dashboard on .* (port \([0-9]*\), loopback only).*/\1/p' "$tmp/coord.log")
check "the coordinator image serves with its example configuration (port $PORT)" '[ -n "$PORT" ]' ||
    cat "$tmp/coord.log"

node_pids=""
for n in shop-a shop-b shop-c; do
    part=part$(case $n in shop-a) echo 1 ;; shop-b) echo 2 ;; *) echo 3 ;; esac)
    mkdir -p "$N/etc/fedrecall/$n" "$N/srv/fedrecall/data/$n"
    cp "$tmp/pki/nodes/$n.crt" "$N/etc/fedrecall/$n/node.crt"
    cp "$tmp/pki/nodes/$n.key" "$N/etc/fedrecall/$n/node.key"
    cp "$tmp/pki/ca.crt" "$tmp/pki/crl.pem" "$C/var/lib/fedrecall-coordinator/signing.pub" "$N/etc/fedrecall/$n/"
    cp "$tmp/$part"/* "$N/srv/fedrecall/data/$n/"
    sed -e "s#/etc/fedrecall/#/etc/fedrecall/$n/#" -e "s#^coordinator = .*#coordinator = https://127.0.0.1:$PORT#" \
        -e "s#^data = .*#data = /srv/fedrecall/data/$n#" -e 's#^format = .*#format = movielens-csv#' \
        -e "s#^state-dir = .*#state-dir = /var/lib/fedrecall-node/$n#" -e 's#^threads = .*#threads = 1#' \
        "$N/etc/fedrecall/node.conf.example" >"$N/etc/fedrecall/$n.conf"
    chown -R 10001:10001 "$N/etc/fedrecall" "$N/var/lib/fedrecall-node"
    run_in node /usr/local/bin/fedrecall-node run --config "/etc/fedrecall/$n.conf" --max-rounds 2 \
        --max-backoff 2 >"$tmp/$n.log" 2>&1 &
    node_pids="$node_pids $!"
    pids="$pids $!"
done
for p in $node_pids; do fed_wait "$p" 300 || bad "a node did not finish"; done
for n in shop-a shop-b shop-c; do
    check "node image, $n: two secure rounds with DP ($(grep -c 'masked update sent' "$tmp/$n.log") masked updates)" \
        'grep -q "round 2: masked update sent" "$tmp/$n.log"' || tail -n 5 "$tmp/$n.log"
done
run_in coordinator /usr/local/bin/fedrecall-coordinator status --url "https://127.0.0.1:$PORT" \
    --cert /etc/fedrecall/operator.crt --key /etc/fedrecall/operator.key --ca /etc/fedrecall/ca.crt \
    >"$tmp/status" 2>&1
check "status from the coordinator image: $(grep -c ' published ' "$tmp/status") rounds published" \
    '[ "$(grep -c " published " "$tmp/status")" = 2 ]' || cat "$tmp/status"
curl -sS --max-time 10 -o "$tmp/dash.html" "http://127.0.0.1:$DPORT/dashboard"
check "the dashboard answers on loopback" 'grep -q "id=\"model-version\"" "$tmp/dash.html"'
stop_in coordinator || bad "the coordinator did not stop"

# The docs' run lines: each names a built image, mounts onto what the image declares
# or holds, and publishes the port the image exposes.
grep '^podman run ' "$tmp/doc-lines" >"$tmp/run-lines"
n_run=$(wc -l <"$tmp/run-lines")
wrong=""
while read -r line; do
    img=$(printf '%s\n' "$line" | awk '{print $NF}')
    name=${img%%:*}
    $E image exists "$img" || { wrong="$wrong $img(no image)"; continue; }
    vols=$($E image inspect --format '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}' "$img")
    ports=$($E image inspect --format '{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}' "$img")
    for m in $(printf '%s\n' "$line" | grep -o -- '-v [^ ]*' | cut -d' ' -f2); do
        dst=$(echo "$m" | cut -d: -f2)
        case " $vols " in *" $dst "*) continue ;; esac
        [ -d "$tmp/root-${name#fedrecall-}$dst" ] || wrong="$wrong $img:$dst"
    done
    for p in $(printf '%s\n' "$line" | grep -o -- '-p [^ ]*' | cut -d' ' -f2); do
        case " $ports " in *" ${p##*:}/tcp "*) ;; *) wrong="$wrong $img:port${p##*:}" ;; esac
    done
done <"$tmp/run-lines"
check "docs/operations.md: $n_run run lines name the images' volumes and ports${wrong:+ (wrong:$wrong)}" \
    '[ "$n_run" -ge 2 ] && [ -z "$wrong" ]'

# The manifests: images by the names make images gives, mounts the images have or
# declare, ports they expose, and every file their configurations name under the
# Secret's mount is a key the file's head tells the operator to put in the Secret.
if python3 -c 'import yaml' 2>/dev/null; then
    for i in $images; do
        $E image inspect --format '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}|{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}' \
            "fedrecall-$i:latest" >"$tmp/meta-$i"
    done
    python3 - "$tmp" $images >"$tmp/k8s.out" 2>&1 <<'PY'
import os, re, sys, yaml
tmp, images = sys.argv[1], sys.argv[2:]
bad = []
for f in ("deploy/k8s/coordinator.yaml", "deploy/k8s/node.yaml"):
    text = open(f).read()
    secret_keys = set(re.findall(r"--from-file=([a-z0-9.]+)=", text))
    docs = [d for d in yaml.safe_load_all(text) if d]
    conf = "".join(v for d in docs if d["kind"] == "ConfigMap" for v in d["data"].values())
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            name, tag = c["image"].split(":")
            img = name.replace("fedrecall-", "")
            if img == "node-gpu" and img not in images:
                img = "node"  # built without the CUDA backend: the same files less its libraries
            if img not in images:
                bad.append(f"{f}: image {c['image']} is not one make images built")
                continue
            vols, ports = open(f"{tmp}/meta-{img}").read().split("|")
            root = f"{tmp}/root-{img}"
            for m in c.get("volumeMounts", []):
                p = m["mountPath"]
                if m["name"] == "state" and p not in vols.split():
                    bad.append(f"{f}: the state volume at {p} is not a volume of {c['image']}")
                if not os.path.exists(root + p) and not os.path.isdir(root + os.path.dirname(p)):
                    bad.append(f"{f}: mount {p} is not a path of {c['image']}")
                if m["name"] == "tls":
                    for used in re.findall(re.escape(p) + r"/([a-z0-9.]+)", conf):
                        if used not in secret_keys:
                            bad.append(f"{f}: {p}/{used} is not a key of the Secret's --from-file list")
            for p in c.get("ports", []):
                if f"{p['containerPort']}/tcp" not in ports.split():
                    bad.append(f"{f}: port {p['containerPort']} is not exposed by {c['image']}")
            if c.get("imagePullPolicy") != "IfNotPresent":
                bad.append(f"{f}: {c['image']} without imagePullPolicy IfNotPresent (a local image)")
print("\n".join(bad) or "ok")
PY
    check "Kubernetes manifests: images, mounts, ports and Secret keys match the images" \
        'grep -qx ok "$tmp/k8s.out"' || cat "$tmp/k8s.out"
else
    echo "skip    Kubernetes manifests against the images: python3 has no yaml module"
fi
finish
