#!/bin/sh
# The README's federation tour, run as written (in a scratch folder, on a free port
# instead of 8443), so that the commands a newcomer copies keep working.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
root=$(pwd)
ln -s "$root/$BUILD" "$tmp/build" && ln -s "$root/certs" "$tmp/certs"
awk '/^## The federation in one minute/ {f = 1} f && /^```$/ {n++; next} f && n == 1' README.md \
    >"$tmp/tour.sh"
[ "$(wc -l <"$tmp/tour.sh")" -gt 10 ] && ok "README tour found ($(wc -l <"$tmp/tour.sh") lines)" ||
    bad "README tour not found"
port=$((20000 + $$ % 30000))
sed -i "s/8443/$port/g" "$tmp/tour.sh"
(cd "$tmp" && timeout 300 sh -e tour.sh >tour.out 2>&1)
rc=$?
# a tour that stopped half-way leaves its coordinator behind: its port is ours alone
pkill -f "fedrecall-coordinator --listen 127.0.0.1:$port " 2>/dev/null
[ "$rc" -eq 0 ] && ok "the tour runs to its end" || { bad "tour exit $rc"; tail -n 20 "$tmp/tour.out"; }
published=$(grep -c ' published ' "$tmp/tour.out")
[ "$published" = 3 ] && ok "its report shows 3 published rounds" || bad "published: $published"
grep -q "the federation has finished" "$tmp/tour.out" && ok "the node stopped by itself" ||
    bad "node did not stop"
finish
