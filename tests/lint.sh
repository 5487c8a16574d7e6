#!/bin/sh
# `make lint` (after `make style`, the banned-function grep): the static checks, each of
# which runs even when one before it found something; exits 1 naming those that did.
#  - cppcheck over the C sources of common/, node/ and coordinator/: its warning,
#    performance and portability checks, with the suppressions in .cppcheck-suppressions
#    (each with its reason). A finding is fixed in the code when that is simple.
#  - file length: no C, header or CUDA source under common/, node/, coordinator/,
#    tests/ or bench/ over 700 lines, so that each file keeps one job.
#  - layers: each folder of common/ includes only the folders docs/contributing.md
#    allows it, and nothing of the programs (tests/cli_layers.sh, also run by make test).
# A second or so on two cores; cppcheck comes with FR_WITH_LINT=1 deploy/install-deps.sh.
set -u
cd "$(dirname "$0")/.." || exit 2
MAX_LINES=700
failed=""

if ! command -v cppcheck >/dev/null; then
    if [ "$(id -u)" = 0 ]; then FR_WITH_LINT=1 deploy/install-deps.sh || exit 2
    else
        echo "lint: no cppcheck: run  sudo FR_WITH_LINT=1 deploy/install-deps.sh" >&2
        exit 2
    fi
fi
echo "== cppcheck"
# One configuration (the build's -D_GNU_SOURCE) rather than every #ifdef combination:
# the build never compiles the others.
# shellcheck disable=SC2046
cppcheck --std=c11 --enable=warning,performance,portability --inline-suppr \
    --suppressions-list=.cppcheck-suppressions -Icommon -D_GNU_SOURCE --quiet \
    -j"$(nproc 2>/dev/null || echo 2)" --error-exitcode=1 \
    --template='{file}:{line}: {severity} ({id}): {message}' \
    $(ls common/*/*.c node/*.c coordinator/*.c) || failed="$failed cppcheck"

echo "== file length (at most $MAX_LINES lines)"
find common node coordinator tests bench -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) |
    sort | while IFS= read -r f; do
        n=$(wc -l <"$f")
        [ "$n" -gt "$MAX_LINES" ] && echo "$f: $n lines: split it by job"
    done >"${TMPDIR:-/tmp}/fr-lint-long.$$"
if [ -s "${TMPDIR:-/tmp}/fr-lint-long.$$" ]; then
    cat "${TMPDIR:-/tmp}/fr-lint-long.$$"
    failed="$failed length"
fi
rm -f "${TMPDIR:-/tmp}/fr-lint-long.$$"

echo "== layers (tests/cli_layers.sh: the table of docs/contributing.md)"
tests/cli_layers.sh | grep -v '^ok \|^TESTS ' || true
tests/cli_layers.sh >/dev/null || failed="$failed layers"

if [ -n "$failed" ]; then
    echo "lint: findings in:$failed" >&2
    exit 1
fi
echo "lint: clean"
