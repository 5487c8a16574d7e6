#!/bin/sh
# The secure-aggregation fuzz targets' committed seeds are the messages of today's
# encoders: tool_secagg_seeds writes the fixed round's messages again (the round is the
# same in every run) and each must equal its committed copy. When an encoder changes on
# purpose, refresh them with  build/tests/tool_secagg_seeds tests/fuzz/seeds
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
TOOL="$BUILD/tests/tool_secagg_seeds"

if "$TOOL" "$tmp/seeds" 2>"$tmp/err"; then ok "the fixed round runs and its seeds are written"; else
    bad "tool_secagg_seeds failed: $(cat "$tmp/err")"
fi
count=0
differ=""
for f in "$tmp"/seeds/*/*; do
    [ -f "$f" ] || continue
    count=$((count + 1))
    rel=${f#"$tmp/seeds/"}
    cmp -s "$f" "tests/fuzz/seeds/$rel" || differ="$differ $rel"
done
[ "$count" -eq 41 ] && ok "41 seeds over 10 targets" || bad "$count seeds written"
[ -z "$differ" ] && ok "every committed seed is the message written today" ||
    bad "seeds differ from tests/fuzz/seeds:$differ"
"$TOOL" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok "no folder: usage, exit 2" || bad "no folder: exit $rc"
finish
