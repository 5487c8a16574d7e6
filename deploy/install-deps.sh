#!/bin/sh
# Install the Debian packages fedrecall builds and tests with. Idempotent: packages
# already present are left alone, and nothing is fetched when all are there.
set -eu
PKGS="build-essential pkg-config libmsgpack-dev libjansson-dev libopenblas-dev libsodium-dev \
  libevent-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev libinih-dev openssl curl python3"
# The benchmark and cross-checks run the PyTorch peer.
if [ "${FR_WITH_PEER:-0}" = 1 ]; then PKGS="$PKGS python3-torch python3-numpy"; fi
# `make bench` loads the recall service with wrk (bench/serve.sh).
if [ "${FR_WITH_BENCH:-0}" = 1 ]; then PKGS="$PKGS wrk"; fi
# `make fuzz` builds the libFuzzer targets (data readers, network decoders) with clang.
if [ "${FR_WITH_FUZZ:-0}" = 1 ]; then PKGS="$PKGS clang libclang-rt-14-dev libomp-14-dev"; fi
# The deployment and dashboard tests also verify the systemd units, render the dashboard
# in headless Chromium and parse the Kubernetes manifests; without these they skip that.
if [ "${FR_WITH_OPS:-0}" = 1 ]; then PKGS="$PKGS systemd chromium python3-yaml"; fi
# `make format-check` and `make lint`: clang-format and cppcheck.
if [ "${FR_WITH_LINT:-0}" = 1 ]; then PKGS="$PKGS clang-format cppcheck"; fi
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$missing; run: sudo $0" >&2
    exit 2
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
