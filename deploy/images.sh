#!/bin/sh
# Build the container images (`make images`): fedrecall-coordinator and fedrecall-node
# from deploy/docker/ on a Debian 12 base, and fedrecall-node-gpu where the CUDA
# backend was built (build/libfedrecall_cuda.so). The base is BASE when set, else the
# public debian:12-slim when the engine has it or can pull it, else one made here from
# the Debian archive with mmdebstrap (docs/operations.md, "Containers"). Ends with the
# images' sizes.
#   ENGINE   podman (default when installed) or docker
#   TAG      the images' tag (default latest, the name the Kubernetes manifests use)
#   GPU      0: skip the GPU image
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
TAG=${TAG:-latest}
say() { echo "images: $*"; }

if [ -z "${ENGINE:-}" ]; then
    if command -v podman >/dev/null 2>&1; then ENGINE=podman
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then ENGINE=docker
    else
        FR_WITH_IMAGES=1 deploy/install-deps.sh
        ENGINE=podman
    fi
fi
# podman builds without a container runtime (chroot isolation) and keeps cgroups to
# itself, so that it works inside containers and on hosts with hybrid cgroups too.
E=$ENGINE
if [ "$ENGINE" = podman ]; then
    export BUILDAH_ISOLATION=chroot
    E="podman --cgroup-manager=cgroupfs"
fi

has() { $E image inspect "$1" >/dev/null 2>&1; }
if [ -z "${BASE:-}" ]; then
    if has docker.io/library/debian:12-slim ||
        timeout 60 $E pull -q docker.io/library/debian:12-slim >/dev/null 2>&1; then
        BASE=docker.io/library/debian:12-slim
    else
        BASE=localhost/fedrecall-base:bookworm
        if ! has "$BASE"; then
            command -v mmdebstrap >/dev/null 2>&1 || FR_WITH_IMAGES=1 deploy/install-deps.sh
            say "debian:12-slim cannot be pulled: making $BASE from the Debian archive"
            mkdir -p "$BUILD/images"
            # what debian:12-slim leaves out: documentation, manuals, locales
            mmdebstrap --quiet --variant=minbase --dpkgopt='path-exclude=/usr/share/man/*' \
                --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
                --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
                bookworm "$BUILD/images/base.tar"
            $E import -q "$BUILD/images/base.tar" "$BASE" >/dev/null
            rm -f "$BUILD/images/base.tar"
        fi
    fi
fi
say "base $BASE, engine $ENGINE"

for name in coordinator node; do
    say "building fedrecall-$name:$TAG"
    $E build -q --build-arg BASE="$BASE" -f deploy/docker/Dockerfile.$name \
        -t "fedrecall-$name:$TAG" . >/dev/null
done

# The GPU image: the CUDA backend and the toolkit's libraries it links, as its context.
if [ "${GPU:-1}" != 0 ] && [ -f "$BUILD/libfedrecall_cuda.so" ]; then
    ctx=$BUILD/images/cuda
    rm -rf "$ctx"
    deploy/docker/collect-libs.sh "$ctx" "$BUILD/libfedrecall_cuda.so" >/dev/null
    mv "$ctx/bin/libfedrecall_cuda.so" "$ctx/lib/"
    rmdir "$ctx/bin"
    say "building fedrecall-node-gpu:$TAG ($(ls "$ctx/lib" | tr '\n' ' '))"
    $E build -q --build-arg NODE_IMAGE="fedrecall-node:$TAG" -f deploy/docker/Dockerfile.node-gpu \
        -t "fedrecall-node-gpu:$TAG" "$ctx" >/dev/null
else
    say "skipping fedrecall-node-gpu: no $BUILD/libfedrecall_cuda.so (make builds it where nvcc is found)"
fi
$E images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '(^|/)fedrecall-[a-z-]+:' |
    grep -v fedrecall-base | while read -r img size; do say "$img $size"; done
