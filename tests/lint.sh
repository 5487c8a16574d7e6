#!/bin/sh
# `make lint` (after `make style`, the banned-function grep): the static checks, each of
# which runs even when one before it found something; exits 1 naming those that did.
#  - cppcheck over the C sources of common/, node/ and coordinator/: its warning,
#    performance and portability checks, with the suppressions in .cppcheck-suppressions
#    (each with its reason). A finding is fixed in the code when that is simple.
#  - file length: no C, header or CUDA source under common/, node/, coordinator/,
#    tests/ or bench/ over 700 lines, so that each file keeps one job.
#  - layers: the library (common/) never includes a header of the programs (node/,
#    coordinator/): an include names a folder of common/, or a file beside the includer.
# A second or so on two cores; cppcheck comes with FR_WITH_LINT=1 deploy/install-deps.sh.
set -u
cd "$(dirname "$0")/.." || exit 2
MAX_LINES=700
failed=""

if ! command -v cppcheck >/dev/null; then
    echo "lint: no cppcheck: run  sudo FR_WITH_LINT=1 deploy/install-deps.sh" >&2
    exit 2
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

echo "== layers (common/ includes nothing of node/ or coordinator/)"
bad_includes=$(
    find common -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) | sort |
        while IFS= read -r f; do
            grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r l; do
                inc=$(printf '%s\n' "$l" | sed 's/.*include[[:space:]]*"\([^"]*\)".*/\1/')
                case "$inc" in
                ../* | */../*) ;;
                */*) [ -d "common/${inc%%/*}" ] && continue ;;
                *) [ -f "$(dirname "$f")/$inc" ] && continue ;;
                esac
                echo "$f:${l%%:*}: includes \"$inc\", which is not in the library"
            done
        done
)
if [ -n "$bad_includes" ]; then
    printf '%s\n' "$bad_includes"
    failed="$failed layers"
fi

if [ -n "$failed" ]; then
    echo "lint: findings in:$failed" >&2
    exit 1
fi
echo "lint: clean"
