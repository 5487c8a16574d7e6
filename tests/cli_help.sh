#!/bin/sh
# Every program and every subcommand answers --help (exit 0, a usage line on stdout,
# nothing on stderr) with at least one example, and the examples name real commands.
# The subcommands are read from each program's own list, so a new one is covered.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
COORD="$BUILD/fedrecall-coordinator"

# help_ok NAME PROGRAM ARGS...: --help works and shows an example
help_ok() {
    name=$1
    shift
    "$@" --help >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" = 0 ] && [ ! -s "$tmp/err" ] && grep -q '^usage: ' "$tmp/out" &&
        grep -qi '^examples*:' "$tmp/out" && [ "$(sed -n '/^examples*:/,$p' "$tmp/out" | wc -l)" -ge 2 ]; then
        ok "$name --help: usage and examples"
    else
        bad "$name --help: exit $rc, $(wc -l <"$tmp/out") lines, stderr: $(head -n 1 "$tmp/err")"
    fi
}
# The command names a program lists under "commands:".
commands() { "$@" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'; }

help_ok fedrecall-node "$NODE"
help_ok fedrecall-coordinator "$COORD"
help_ok fedrecall-ca certs/fedrecall-ca
n=0
for c in $(commands "$NODE"); do
    n=$((n + 1))
    help_ok "fedrecall-node $c" "$NODE" "$c"
done
[ "$n" -ge 8 ] && ok "fedrecall-node lists $n commands" || bad "fedrecall-node lists $n commands"
for c in epsilon sigma status; do help_ok "fedrecall-node privacy $c" "$NODE" privacy "$c"; done
help_ok "fedrecall-node privacy" "$NODE" privacy
n=0
for c in $(commands "$COORD"); do
    n=$((n + 1))
    help_ok "fedrecall-coordinator $c" "$COORD" "$c"
done
[ "$n" -ge 4 ] && ok "fedrecall-coordinator lists $n commands" || bad "fedrecall-coordinator lists $n commands"
# The examples of the top-level helps start with commands that exist.
for prog in "$NODE" "$COORD"; do
    base=$(basename "$prog")
    "$prog" --help | sed -n '/^examples:/,$p' | sed -n "s/^  $base \([a-z-]*\).*/\1/p" >"$tmp/used"
    unknown=""
    for c in $(cat "$tmp/used"); do commands "$prog" | grep -qx "$c" || unknown="$unknown $c"; done
    [ -s "$tmp/used" ] && [ -z "$unknown" ] && ok "$base examples use its commands" ||
        bad "$base examples: unknown commands:$unknown"
done
# Usage errors still go to stderr with exit 2.
"$COORD" frobnicate >/dev/null 2>"$tmp/err"
[ $? = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && ok "unknown coordinator command: exit 2" ||
    bad "unknown coordinator command"
finish
