#!/bin/sh
# The GPU check, in one run on a machine with an NVIDIA GPU (7 minutes at most; about
# 2.5 on an H200): build with the CUDA backend (make CUDA=1), run `make test-cuda`
# (every op, recall, a training step, 3 epochs and DP-SGD, per-user and batched,
# against the CPU backend),
# measure the device's limits (cuBLAS SGEMM rate, copy and memory bandwidth:
# bench/device_rate.c), training throughput at the benchmark configuration
# (bench/run.sh: d=64, F=64, batch 128, L=50, K=128) and at a GPU-sized one (d=256,
# batch 1024, L=200, K=1024) against the PyTorch peer, eager and torch.compile, on the
# same GPU, then TF32, DP-SGD and top-100 recall over 100,000 items against the host's
# cores, and run the tests under compute-sanitizer. Ends with a table. Every step runs
# under a time limit and the run carries on past a failure.
# Seven files go to $OUT (default build/gpu-out): gpu.log (everything), test_cuda.txt,
# table.md, results.json (every measurement) and profile.txt (device time per op of
# the backend over one GPU-sized epoch), memcheck.txt and racecheck.txt (the tests
# under compute-sanitizer); the step files stay in build/gpu-work. Exit status: that of
# the CUDA test.
#
# Knobs (environment): FR_GPU_BUDGET (seconds for the whole run, 420), FR_PEER
# (peer_torch.py), FR_BENCH_DATA (ml-latest-small folder), FR_GPU_JOBS (make -j, 16).
# On a machine with no network and without the build packages, the peer or the data:
# run tests/gpu/fetch-deps.sh on a networked Debian 12 machine first and bring its
# .gpu-deps/ folder; the packages are unpacked into a private root (never over /) and
# used for this build alone, the peer and ml-latest-small are taken from there.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
WORK=build/gpu-work
mkdir -p "$OUT" "$WORK"
BUDGET=${FR_GPU_BUDGET:-420}
JOBS=${FR_GPU_JOBS:-16}
T0=$(date +%s)
NODE=build/fedrecall-node
: >"$WORK/steps.txt"
# everything goes to the log (4); the step lines and the table to the terminal (3) too
exec 3>&1 4>"$OUT/gpu.log"
exec >&4 2>&4
say() { echo "$*" >&4; echo "$*" >&3; }

# step NAME LIMIT CMD...: run CMD under min(LIMIT, budget left) seconds.
step() {
    name=$1 limit=$2
    shift 2
    left=$((BUDGET - ($(date +%s) - T0)))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
        say "-- $name: skipped (time budget spent)"
        echo "$name skipped" >>"$WORK/steps.txt"
        return 124
    fi
    s=$(date +%s)
    timeout -k 5 "$limit" "$@"
    rc=$?
    say "-- $name: exit $rc in $(($(date +%s) - s)) s (limit $limit s)"
    echo "$name $rc" >>"$WORK/steps.txt"
    return $rc
}

say "== GPU check: $(date -u), budget $BUDGET s, outputs in $OUT"
step machine 20 sh -c 'nvidia-smi -L; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv;
    command -v nvcc || ls /usr/local/cuda/bin/nvcc; nproc' >"$WORK/machine.txt" 2>&1
cat "$WORK/machine.txt" >&3

# Build packages: the machine's own, or a private root unpacked from .gpu-deps/.
PKGS="msgpack jansson openblas libsodium libevent libevent_openssl openssl libcurl sqlite3 inih"
if ! { command -v pkg-config >/dev/null && pkg-config --exists $PKGS; } 2>/dev/null &&
    [ -d .gpu-deps ]; then
    root=/tmp/fr-gpu-root
    mkdir -p "$root"
    for f in .gpu-deps/*.deb; do dpkg -x "$f" "$root"; done
    lib=$root/usr/lib/x86_64-linux-gnu
    # .pc files name /usr: the sysroot prefix moves them under the private root
    export PKG_CONFIG_SYSROOT_DIR=$root
    export PKG_CONFIG_PATH=$lib/pkgconfig:$lib/openblas-pthread/pkgconfig:$root/usr/share/pkgconfig
    # headers straight under /usr/include are not named by pkg-config's flags
    export CPATH=$root/usr/include:$root/usr/include/x86_64-linux-gnu
    export LIBRARY_PATH=$lib:$lib/openblas-pthread
    # RPATH, not RUNPATH: it also serves the libraries' own dependencies (libevent_core
    # under libevent, libcom_err under Kerberos), which the machine may lack too
    export EXTRA_LDFLAGS="-Wl,--disable-new-dtags -Wl,-rpath,$lib -Wl,-rpath,$lib/openblas-pthread
        -Wl,-rpath,$root/lib/x86_64-linux-gnu -Wl,-rpath-link,$lib"
    # a machine without pkg-config or make gets the packaged ones, run from the root
    mkdir -p "$root/fr-bin"
    if ! command -v pkg-config >/dev/null; then
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$lib" "$root/usr/bin/pkgconf" \
            >"$root/fr-bin/pkg-config"
        chmod +x "$root/fr-bin/pkg-config"
    fi
    command -v make >/dev/null || ln -sf "$root/usr/bin/make" "$root/fr-bin/make"
    export PATH=$PATH:$root/fr-bin
    say "build packages from .gpu-deps/ in $root"
fi
pkg-config --exists $PKGS 2>/dev/null || say "warning: build packages missing ($PKGS); the build may fail"

step build 240 make -j"$JOBS" CUDA=1
grep "^built:" "$OUT/gpu.log" | tail -n 1 >&3

step test-cuda 150 make CUDA=1 test-cuda >"$OUT/test_cuda.txt" 2>&1
test_rc=$?
cat "$OUT/test_cuda.txt" >&3

step device-rate 60 build/bench/device_rate --device cuda >"$WORK/device_rate.json"

# Data: MovieLens beside the checkout when present, else generated of the same size.
DATA=${FR_BENCH_DATA:-}
for d in .gpu-deps/ml-latest-small shared/data/ml-latest-small ../shared/data/ml-latest-small; do
    [ -z "$DATA" ] && [ -f "$d/ratings.csv" ] && DATA=$d
done
if [ -z "$DATA" ]; then
    DATA=/tmp/fr-gpu-synth-bench
    step synth-bench 60 "$NODE" synth --users 610 --items 9000 --min-events 20 --max-events 310 \
        --out "$DATA" >/dev/null
fi
# The GPU-sized run needs windows of 201 items and enough of them for several batches
# (about 7,900 windows: 8 batches of 1,024 an epoch).
BIG=/tmp/fr-gpu-synth-big
step synth-big 90 "$NODE" synth --users 4000 --items 20000 --clusters 40 --min-events 200 \
    --max-events 400 --out "$BIG" >/dev/null

PEER=${FR_PEER:-}
for p in .gpu-deps/peer_torch.py shared/bench/peer_torch.py ../shared/bench/peer_torch.py; do
    [ -z "$PEER" ] && [ -f "$p" ] && PEER=$p
done
[ -n "$PEER" ] || say "no peer_torch.py (set FR_PEER): the PyTorch columns stay empty"
export PYTHONUNBUFFERED=1

# Most telling first, so that a short budget still yields the GPU-sized comparison.
BENCH="--epochs 3 --time-only"
GPUCFG="--epochs 3 --time-only --dim 256 --batch 1024 --seq-len 200 --negatives 1024"
step ours-big-cuda 120 "$NODE" train --data "$BIG" --format movielens-csv $GPUCFG --device cuda \
    --metrics-out "$WORK/ours_big_cuda.json"
[ -n "$PEER" ] && step torch-big-eager 120 python3 "$PEER" --data "$BIG" --format movielens-csv \
    $GPUCFG --device cuda --json-out "$WORK/torch_big_eager.json"
# device time per op (fr_backend_cuda_prof.cu), one epoch of the GPU-sized run
step ours-big-profile 90 env FR_CUDA_PROFILE=1 "$NODE" train --data "$BIG" \
    --format movielens-csv $GPUCFG --epochs 1 --device cuda 2>"$OUT/profile.txt" >/dev/null
grep "cuda profile" "$OUT/profile.txt" | head -n 16 >&3
step ours-bench-cuda 90 "$NODE" train --data "$DATA" --format movielens-csv $BENCH --device cuda \
    --metrics-out "$WORK/ours_bench_cuda.json"
[ -n "$PEER" ] && step torch-bench-eager 90 python3 "$PEER" --data "$DATA" \
    --format movielens-csv $BENCH --device cuda --json-out "$WORK/torch_bench_eager.json"
# Recall: top-100 for 20,000 users over a 100,000-item catalogue at d = 64 (the recall
# service's benchmark model), on the device and on every core; the lists compared.
RB=/tmp/fr-gpu-recall
step recall-data 60 sh -c "'$NODE' synth --users 20000 --items 100000 --clusters 50 --seed 1 \
    --out $RB >/dev/null && '$NODE' init-model --items $RB --format movielens-csv --dim 64 \
    --out $RB/model.frm >/dev/null && awk -F, 'NR > 1 { print \$1 }' $RB/ratings.csv |
    sort -u >$RB/users"
for dev in cuda cpu; do
    step recall-$dev 90 "$NODE" recall --model "$RB/model.frm" --data "$RB" --format movielens-csv \
        --model-catalogue --users "$RB/users" -k 100 --threads "$(nproc)" --device $dev --timing \
        >"$WORK/recall_$dev.tsv" 2>"$WORK/recall_$dev.txt"
    cat "$WORK/recall_$dev.txt" >&3
done
python3 - "$WORK" >"$WORK/recall.json" <<'PYEOF'
import json, re, sys
w = sys.argv[1]
r = {}
for dev in ("cuda", "cpu"):
    try:
        m = re.search(r"searched in ([0-9.]+) s \(([0-9]+) lists/s\)", open(f"{w}/recall_{dev}.txt").read())
        r[dev + "_lists_per_s"] = float(m.group(2))
        r[dev + "_search_s"] = float(m.group(1))
    except (OSError, AttributeError):
        pass
try:
    a = set(tuple(l.split("\t")[:2]) for l in open(f"{w}/recall_cpu.tsv"))
    b = set(tuple(l.split("\t")[:2]) for l in open(f"{w}/recall_cuda.tsv"))
    r["pairs_cpu"], r["pairs_cuda"], r["pairs_shared"] = len(a), len(b), len(a & b)
except OSError:
    pass
json.dump(r, sys.stdout)
PYEOF
say "recall lists compared: $(cat "$WORK/recall.json")"
# DP-SGD (bench/run.sh's DP case: q = 0.1, noise 1, 3 epochs on ml-latest-small) on
# the device (the batched step, then the per-user reference path) and on every core,
# then at the GPU-sized configuration; the device memory in use is sampled every 0.2 s
# during each device run (nvidia-smi) and its peak kept in dp_*_mem.txt.
# dp_mem NAME: sample the device's used memory until the file $WORK/NAME.stop appears.
dp_mem() {
    rm -f "$WORK/$1.stop"
    (peak=0; while [ ! -f "$WORK/$1.stop" ]; do
        m=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null |
            head -n 1)
        [ -n "$m" ] && [ "$m" -gt "$peak" ] 2>/dev/null && peak=$m
        sleep 0.2
    done; echo "$peak" >"$WORK/$1_mem.txt") &
}
DPCFG="--epochs 3 --time-only --dp --dp-noise 1 --dp-sampling-rate 0.1"
for run in cuda cuda-per-user cpu big-cuda big-cuda-per-user; do
    case $run in
    cuda) args="--data $DATA --device cuda" ;;
    cuda-per-user) args="--data $DATA --device cuda --dp-per-user" ;;
    cpu) args="--data $DATA --device cpu" ;;
    big-cuda) args="--data $BIG --device cuda --dim 256 --batch 1024 --seq-len 200 --negatives 1024" ;;
    big-cuda-per-user) args="--data $BIG --device cuda --dp-per-user --dim 256 --batch 1024 --seq-len 200 --negatives 1024" ;;
    esac
    rm -rf "$WORK/dp-state-$run"
    f=$(echo "dp_$run" | tr - _)
    case $run in *cuda*) dp_mem "$f" ;; esac
    # shellcheck disable=SC2086 # args is a list of options
    step "dp-$run" 90 "$NODE" train $args --format movielens-csv $DPCFG \
        --state-dir "$WORK/dp-state-$run" --threads "$(nproc)" --metrics-out "$WORK/$f.json" \
        >/dev/null
    : >"$WORK/$f.stop"
    wait
    [ -f "$WORK/${f}_mem.txt" ] && say "dp-$run: peak device memory $(cat "$WORK/${f}_mem.txt") MiB"
done
# the GPU-sized configuration without DP, for the ratio (the same 3 epochs)
step ours-big-cuda-q 120 "$NODE" train --data "$BIG" --format movielens-csv $GPUCFG --device cuda \
    --metrics-out "$WORK/ours_big_cuda_again.json"
step ours-big-tf32 90 env FR_CUDA_TF32=1 "$NODE" train --data "$BIG" --format movielens-csv \
    $GPUCFG --device cuda --metrics-out "$WORK/ours_big_tf32.json"
if [ -n "$PEER" ]; then
    step torch-big-compile 150 python3 "$PEER" --data "$BIG" --format movielens-csv $GPUCFG \
        --device cuda --compile --json-out "$WORK/torch_big_compile.json"
    step torch-bench-compile 120 python3 "$PEER" --data "$DATA" --format movielens-csv $BENCH \
        --device cuda --compile --json-out "$WORK/torch_bench_compile.json"
fi
step ours-bench-cpu 60 "$NODE" train --data "$DATA" --format movielens-csv --epochs 2 \
    --time-only --threads "$(nproc)" --device cpu --metrics-out "$WORK/ours_bench_cpu.json"

# The CUDA tests again under compute-sanitizer: memcheck over every kernel, racecheck
# over the top-K selection (shared-memory histograms, scans and sorts).
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
# (each of the CUDA test binaries in turn; the status is that of the last that failed)
CUDA_TESTS="build/tests/gpu/test_cuda_ops build/tests/gpu/test_cuda_model build/tests/gpu/test_cuda_dp_batch"
step memcheck 100 sh -c 'rc=0; for t in $2; do "$1" --tool memcheck --error-exitcode 9 "$t" ||
    rc=$?; done; exit $rc' sh "$SAN" "$CUDA_TESTS" >"$OUT/memcheck.txt" 2>&1
grep -E "ERROR SUMMARY|^TESTS" "$OUT/memcheck.txt" >&3
step racecheck 60 sh -c 'rc=0; for t in $2; do "$1" --tool racecheck --kernel-name kns=topk \
    --error-exitcode 9 "$t" || rc=$?; done; exit $rc' sh "$SAN" "$CUDA_TESTS" \
    >"$OUT/racecheck.txt" 2>&1
grep -E "RACECHECK SUMMARY|ERROR SUMMARY|^TESTS|rror" "$OUT/racecheck.txt" | head -n 5 >&3

# The table: training sequences per second, the median over the epochs after the first
# (which holds start-up and compilation).
python3 - "$WORK" "$OUT/results.json" >"$OUT/table.md" <<'EOF'
import glob, json, os, statistics, sys
out = sys.argv[1]
everything = {}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    try:
        with open(path) as f:
            everything[os.path.basename(path)[:-5]] = json.load(f)
    except (OSError, ValueError):
        pass
with open(sys.argv[2], "w") as f:
    json.dump(everything, f, indent=1)

def rate(name):
    try:
        with open(os.path.join(out, name)) as f:
            eps = [e["sequences_per_s"] for e in json.load(f)["epochs"]]
    except (OSError, ValueError, KeyError):
        return "-"
    eps = eps[1:] or eps
    return f"{statistics.median(eps):,.0f}" if eps else "-"

print("| training, sequences/s | fedrecall CUDA | PyTorch eager | torch.compile | fedrecall CPU (all cores) |")
print("|---|---|---|---|---|")
print(f"| benchmark config (d=64, F=64, B=128, L=50, K=128) | {rate('ours_bench_cuda.json')} | "
      f"{rate('torch_bench_eager.json')} | {rate('torch_bench_compile.json')} | {rate('ours_bench_cpu.json')} |")
print(f"| GPU-sized (d=256, F=64, B=1024, L=200, K=1024) | {rate('ours_big_cuda.json')} | "
      f"{rate('torch_big_eager.json')} | {rate('torch_big_compile.json')} | - |")
print(f"| GPU-sized, TF32 products (FR_CUDA_TF32=1) | {rate('ours_big_tf32.json')} | - | - | - |")
print(f"| DP-SGD, benchmark config (q=0.1, noise 1), batched step | {rate('dp_cuda.json')} | - | - | {rate('dp_cpu.json')} |")
print(f"| DP-SGD, benchmark config, per-user path (--dp-per-user) | {rate('dp_cuda_per_user.json')} | - | - | - |")
print(f"| DP-SGD, GPU-sized, batched step | {rate('dp_big_cuda.json')} | - | - | - |")
print(f"| DP-SGD, GPU-sized, per-user path | {rate('dp_big_cuda_per_user.json')} | - | - | - |")
def mem(name):
    try:
        with open(os.path.join(out, name + "_mem.txt")) as f:
            return f.read().strip() + " MiB"
    except OSError:
        return "-"
def prate(name):
    try:
        with open(os.path.join(out, name)) as f:
            eps = [e["positions_per_s"] for e in json.load(f)["epochs"]]
    except (OSError, ValueError, KeyError):
        return None
    eps = eps[1:] or eps
    return statistics.median(eps) if eps else None
print()
for what, dp, plain in (("benchmark config", "dp_cuda.json", "ours_bench_cuda.json"),
                        ("GPU-sized", "dp_big_cuda.json", "ours_big_cuda_again.json"),
                        ("benchmark config, CUDA DP against all cores' DP", "dp_cuda.json", "dp_cpu.json")):
    a, b = prate(dp), prate(plain)
    print(f"DP-SGD {what}: {a or 0:,.0f} against {b or 0:,.0f} positions/s, "
          + (f"{a / b:.2f}x" if a and b else "ratio not measured"))
print()
print("DP-SGD peak device memory (nvidia-smi, whole device): benchmark config batched "
      f"{mem('dp_cuda')}, per-user {mem('dp_cuda_per_user')}; GPU-sized batched "
      f"{mem('dp_big_cuda')}, per-user {mem('dp_big_cuda_per_user')}. DP throughput is users/s "
      "(a DP epoch samples each user once on average), plain training's sequences/s: "
      "compare positions/s in results.json for like with like.")
try:
    with open(os.path.join(out, "device_rate.json")) as f:
        r = json.load(f)
    print()
    print(f"device limits: SGEMM {r['sgemm_gflops']:,.0f} GFLOP/s ({r['sgemm_size']}^3), "
          f"logits product {r['logits_gemm_gflops']:,.0f} GFLOP/s {r['logits_shape']}, "
          f"host->device {r['upload_gbs']:.1f} GB/s, device->host {r['download_gbs']:.1f} GB/s, "
          f"device memory (axpy) {r['axpy_gbs']:,.0f} GB/s")
except (OSError, ValueError, KeyError):
    print("\ndevice limits: not measured")
try:
    with open(os.path.join(out, "recall.json")) as f:
        r = json.load(f)
    print(f"\nrecall, top-100 of 100,000 items for 20,000 users (d=64): CUDA "
          f"{r.get('cuda_lists_per_s', 0):,.0f} lists/s, CPU (all cores) "
          f"{r.get('cpu_lists_per_s', 0):,.0f} lists/s; (user, item) pairs shared "
          f"{r.get('pairs_shared', 0):,} of {r.get('pairs_cpu', 0):,}")
except (OSError, ValueError):
    print("\nrecall: not measured")
EOF
say ""
cat "$OUT/table.md" >&3
say ""
say "steps (name exit-status):"
cat "$WORK/steps.txt" >&3
say "total $(($(date +%s) - T0)) s; log in $OUT/gpu.log"
exit $test_rc
