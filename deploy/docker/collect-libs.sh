#!/bin/sh
# collect-libs.sh OUT PROGRAM...: copy each program to OUT/bin and every shared library
# ldd names for it (following links) to OUT/lib, less the C library's own: the runtime
# image has those from the same Debian release. Fails if ldd cannot find one.
set -eu
out=$1
shift
mkdir -p "$out/bin" "$out/lib"
for p in "$@"; do
    cp "$p" "$out/bin/"
    if ldd "$p" | grep -q 'not found'; then
        ldd "$p" >&2
        exit 1
    fi
    ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
        grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so' |
        while read -r lib; do cp -L "$lib" "$out/lib/"; done
done
