#!/bin/sh
# Run on a networked Debian 12 machine with the build packages installed: downloads
# the .deb files of fedrecall's build packages (headers, pkg-config files) and of the
# shared libraries the node links, into .gpu-deps/, for a GPU machine that has no
# network and lacks them; tests/gpu/run.sh unpacks them into a private root there.
# So are make and pkg-config. The C and C++ runtimes (libc6, libgcc-s1, libstdc++6)
# are left to that machine.
# The PyTorch peer and MovieLens ml-latest-small are copied along when found
# ($FR_PEER, $FR_BENCH_DATA, else ../shared/), so the one folder is all the GPU check
# needs from outside the checkout.
set -eu
cd "$(dirname "$0")/../.."
NODE=${BUILD:-build}/fedrecall-node
[ -x "$NODE" ] || { echo "fetch-deps: build first (make)" >&2; exit 2; }
DEV="libmsgpack-dev libjansson-dev libopenblas-dev libsodium-dev libevent-dev libssl-dev \
  libcurl4-openssl-dev libsqlite3-dev libinih-dev"
# what these depend on directly (libopenblas-pthread-dev, the libraries the .so links
# point to, ...); of OpenBLAS's variants the pthread one, which the Makefile links
more=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $DEV | awk '$1 ~ /Depends:/ && $2 !~ /^</ { print $2 }' |
    grep -vE 'openblas-(openmp|serial)|^libblas|^liblapack' || true)
# the packages of every library the programs load (dpkg knows some under /lib, which
# is a link to /usr/lib on Debian 12, so the path is asked both ways)
libs=$(ldd "$NODE" "${BUILD:-build}/fedrecall-coordinator" |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | xargs -n1 readlink -f | sort -u |
    while read -r f; do
        dpkg -S "$f" 2>/dev/null || dpkg -S "${f#/usr}" 2>/dev/null || true
    done | cut -d: -f1 | sort -u)
# make and pkg-config, for a machine that has a compiler but not these
TOOLS="make pkgconf pkgconf-bin libpkgconf3"
rm -rf .gpu-deps
mkdir -p .gpu-deps
cd .gpu-deps
# shellcheck disable=SC2086
apt-get download $(echo $DEV $more $libs $TOOLS | tr ' ' '\n' | sort -u |
    grep -vxE 'libc6|libc6-dev|libgcc-s1|libstdc\+\+6|libc-dev|linux-libc-dev|zlib1g')
cd ..
PEER=${FR_PEER:-../shared/bench/peer_torch.py}
DATA=${FR_BENCH_DATA:-../shared/data/ml-latest-small}
[ -f "$PEER" ] && cp "$PEER" .gpu-deps/peer_torch.py
[ -f "$DATA/ratings.csv" ] && mkdir -p .gpu-deps/ml-latest-small &&
    cp "$DATA/ratings.csv" "$DATA/movies.csv" .gpu-deps/ml-latest-small/
echo "fetch-deps: $(ls .gpu-deps/*.deb | wc -l) packages$([ -f .gpu-deps/peer_torch.py ] &&
    echo ', the peer')$([ -d .gpu-deps/ml-latest-small ] && echo ', ml-latest-small');" \
    "$(du -sh .gpu-deps | cut -f1) in .gpu-deps/"
