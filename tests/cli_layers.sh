#!/bin/sh
# The library's layers: each folder of common/ includes only the folders that the table
# in docs/contributing.md allows it, and nothing of the programs. The table is read from
# that page, so the page and the code cannot drift apart.
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh

# "folder: allowed allowed ..." for each row of the table under "### `common/`".
awk -F'|' '/^### `common\/`/ {on = 1; next} on && /^## / {on = 0}
    on && $2 ~ /`[a-z]+\/`/ {
        d = $2; gsub(/[ `\/]/, "", d); line = d ":";
        n = split($4, w, /`/);
        for (i = 2; i <= n; i += 2) if (w[i] ~ /^[a-z]+\/$/) { a = w[i]; sub(/\//, "", a); line = line " " a }
        print line }' docs/contributing.md >"$tmp/layers"

# violations ROOT FOLDER: each include of ROOT/common/FOLDER/* outside its allowed
# folders, as FILE:LINE: includes "X". An include without a folder must name a file
# beside the includer.
violations() {
    allowed=" $2 $(sed -n "s/^$2://p" "$tmp/layers") "
    for f in "$1"/common/"$2"/*.c "$1"/common/"$2"/*.h "$1"/common/"$2"/*.cu; do
        [ -f "$f" ] || continue
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r l; do
            inc=$(printf '%s\n' "$l" | sed 's/.*include[[:space:]]*"\([^"]*\)".*/\1/')
            case "$inc" in
            ../*) top="?" ;;
            */*) top=${inc%%/*} ;;
            *) [ -f "$(dirname "$f")/$inc" ] && continue; top="?" ;;
            esac
            case "$allowed" in *" $top "*) ;; *) echo "$f:${l%%:*}: includes \"$inc\"" ;; esac
        done
    done
}

for d in $(ls -d common/*/ | xargs -n 1 basename); do
    if ! grep -q "^$d:" "$tmp/layers"; then
        bad "common/$d/ has no row in docs/contributing.md's layer table"
        continue
    fi
    violations . "$d" >"$tmp/bad"
    if [ -s "$tmp/bad" ]; then bad "common/$d/ breaks its layer:"; cat "$tmp/bad"
    else ok "common/$d/ includes only itself and:$(sed -n "s/^$d://p" "$tmp/layers")"; fi
done

# The check itself finds a layer above, a program's header and a path out of common/.
mkdir -p "$tmp/probe/common/util"
printf '#include "recall/fr_recall.h"\n#include "fr_fed.h"\n#include "../node/fr_serve.h"\n' \
    >"$tmp/probe/common/util/x.c"
n=$(violations "$tmp/probe" util | wc -l)
if [ "$n" = 3 ]; then ok "a probe file's three wrong includes are found"
else bad "a probe file's three wrong includes: $n found"; fi
finish
