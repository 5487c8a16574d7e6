# Shared by the tests/cli_*.sh scripts (sourced, not run): the node binary, a temporary
# folder removed on exit, the ok/bad tally and the check that bad input ends with one
# line on stderr and exit code 2.
BUILD=${BUILD:-build}
NODE="$BUILD/fedrecall-node"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok      $1"; }
bad() { failed=$((failed + 1)); echo "not ok  $1"; }

# expect_usage NAME ARGS...: exit code 2, exactly one line on stderr naming the problem
expect_usage() {
    name=$1
    shift
    "$NODE" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ]; then
        ok "$name: $(cat "$tmp/err")"
    else
        bad "$name: exit $rc, $lines stderr lines:"
        cat "$tmp/err"
    fi
}

# The tally line tests/run.sh adds up, and the exit status.
finish() {
    echo "TESTS $passed $failed"
    [ "$failed" -eq 0 ]
}

# server_start LOG ARGS...: `fedrecall-node ARGS` (a server) in the background until it
# logs its port; sets pid and port; fails if it never listens (30 s at most).
# server_stop: stops it.
server_start() {
    log=$1
    shift
    "$NODE" "$@" 2>"$log" &
    pid=$!
    port=
    i=0
    while [ -z "$port" ] && [ $i -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
        port=$(sed -n 's/.*listening on .*, port \([0-9]*\) .*/\1/p' "$log")
        [ -n "$port" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$port" ]
}
server_stop() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}
