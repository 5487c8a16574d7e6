#!/bin/sh
# Run every test binary and every tests/*.sh script; print each one's cases and end
# with the summary line "N passed, M failed". Exits non-zero if anything failed.
set -u
BUILD=${BUILD:-build}
export BUILD
# Idle OpenMP threads sleep instead of spinning (as fedrecall-node arranges for itself),
# so a loaded CI machine does not multiply the run time.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp)
for t in "$BUILD"/tests/test_* tests/cli_*.sh; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    echo "== $t"
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    line=$(grep '^TESTS ' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        set -- $line
        passed=$((passed + $2))
        failed=$((failed + $3))
        if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then
            echo "  $t exited $rc"
            failed=$((failed + 1))
        fi
    else
        echo "  $t exited $rc without a tally"
        failed=$((failed + 1))
    fi
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
