#!/bin/sh
# Catalogue content updates and diffs (docs/catalogue.md): `catalogue update` gives
# live items new content, `catalogue diff` adds, updates and retires in one version
# from an item file whose first column says which; each refusal is one line quoting
# the diff's FILE:LINE and row, exits 2 and writes nothing. The coordinator then
# publishes the diff's version, and a node trains on it (that the model carries the
# new tokens is checked in tests/test_catver.c).
cd "$(dirname "$0")/.." || exit 1
. tests/cli_lib.sh
. tests/fed_lib.sh

fed_pki n1 || { bad "certificates"; finish; exit 1; }
fed_data 1 --users 60 --items 40 --clusters 2 --seed 4 || { bad "data"; finish; exit 1; }
STATE="$tmp/coord"
fed_start_coord "$STATE" --min-nodes 1 --rounds 1 --retry 1 --local-epochs 1 --seq-len 10 \
    --batch 32 --negatives 8 --secure-aggregation off || { bad "coordinator start"; finish; exit 1; }
kill "$COORD_PID" 2>/dev/null
fed_wait "$COORD_PID" 10 || bad "coordinator ignored SIGTERM"
id1=$(sed -n '2p' "$tmp/data/movies.csv" | cut -d, -f1)
id2=$(sed -n '3p' "$tmp/data/movies.csv" | cut -d, -f1)
id3=$(sed -n '4p' "$tmp/data/movies.csv" | cut -d, -f1)
mkdir -p "$tmp/upd" "$tmp/diff"
# refused: one line, status 2, nothing written
refused() { # NAME PATTERN VERB DIR
    out=$("$COORD" catalogue "$3" --state-dir "$STATE" --items "$4" 2>&1)
    rc=$?
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "$2" &&
        ok "$1 refused: $out" || bad "$1 (status $rc): $out"
}
printf 'movieId,title,genres\n%s,Renamed (2020),Horror|Sci-Fi\n777001,Nobody (2020),Drama\n' "$id1" \
    >"$tmp/upd/movies.csv"
refused "update of an unknown item" "cannot update item '777001': it is not in catalogue version 0 (add it)" \
    update "$tmp/upd"
printf 'movieId,title,genres\n%s,Renamed (2020),Horror|Sci-Fi\n' "$id1" >"$tmp/upd/movies.csv"
out=$("$COORD" catalogue update --state-dir "$STATE" --items "$tmp/upd" 2>&1) &&
    [ "$out" = "catalogue version 1: 1 items updated (new content, rows kept)" ] &&
    ok "update: $out" || bad "update: $out"

d="$tmp/diff/movies.csv"
diff_refused() { # NAME PATTERN ROWS...
    name=$1 pat=$2
    shift 2
    { echo "change,movieId,title,genres"; for r in "$@"; do echo "$r"; done; } >"$d"
    refused "$name" "$pat" diff "$tmp/diff"
}
diff_refused "a bad change" "movies.csv:3: the change must be add, update or retire: replace,$id2,X (2020),Drama" \
    "add,777001,New (2020),Drama" "replace,$id2,X (2020),Drama"
diff_refused "an id named twice" "movies.csv:3: item '777001' is already named on line 2: retire,777001" \
    "add,777001,New (2020),Drama" "retire,777001"
diff_refused "an added id already there" "movies.csv:2: cannot add item '$id2': it is already row 2: add,$id2,Again (2020),Drama" \
    "add,$id2,Again (2020),Drama"
diff_refused "a retired unknown id" "movies.csv:2: cannot retire item '888': it is not in catalogue version 1: retire,888" \
    "retire,888"
diff_refused "a row without an id" "movies.csv:2: no id: update, ,X (2020),Drama" "update, ,X (2020),Drama"
diff_refused "a row the reader refuses" "movies.csv:3: not a valid add row of movielens-csv" \
    "add,777001,New (2020),Drama" "add,777002,Title only (2020)"
printf 'movieId,title,genres\nadd,1,X,Drama\n' >"$d"
refused "a header without change" "movies.csv:1: the header must name \"change\" first" diff "$tmp/diff"
ls "$STATE/catalogues" | grep -q 000002 && bad "a refusal wrote a version" || ok "refusals wrote nothing"

{
    echo "change,movieId,title,genres"
    echo "add,777001,New One (2020),Drama|Comedy"
    echo "update,$id2,\"Beta, Revisited (2021)\",Horror"
    echo "retire,$id3"
    echo "add,777002,New Two (2020),Action"
} >"$d"
out=$("$COORD" catalogue diff --state-dir "$STATE" --items "$tmp/diff" 2>&1) &&
    [ "$out" = "catalogue version 2: 2 items added, 1 updated, 1 retired; 42 items, 41 live" ] &&
    ok "diff: $out" || bad "diff: $out"
[ -z "$(ls "${TMPDIR:-/tmp}" | grep fedrecall-diff-)" ] && ok "the work folder is gone" || bad "work folder left"
"$COORD" catalogue diff --state-dir "$STATE" --items "$tmp/diff" >"$tmp/again" 2>&1
grep -q "cannot add item '777001': it is already row 41" "$tmp/again" && ok "the same diff again is refused" ||
    bad "again: $(cat "$tmp/again")"

# published: one round with one node; the updated item's row keeps its place
fed_start_coord "$STATE" --min-nodes 1 --rounds 2 --retry 1 --local-epochs 1 --seq-len 10 \
    --batch 32 --negatives 8 --secure-aggregation off || bad "coordinator restart"
fed_node_conf n1 part1
fed_start_node n1
fed_wait "$NODE_PID" 120 || bad "node still running"
kill "$COORD_PID" 2>/dev/null
m=$(ls "$STATE/models/"*.frm | tail -n 1)
"$NODE" export --model "$m" --npy "$tmp/npy1" >/dev/null 2>&1
shape=$(head -c 120 "$tmp/npy1/E_id.npy" | tr -cd '[:print:]' | sed -n "s/.*'shape': (\([0-9]*\),.*/\1/p")
"$COORD" catalogue show --state-dir "$STATE" >"$tmp/show" 2>&1
[ "$shape" = 43 ] && grep -q "catalogue version 2: 42 items, 41 live, 1 retired; published" "$tmp/show" &&
    ok "the diff's version is published ($m, $shape rows)" || bad "published: $shape; $(cat "$tmp/show")"
finish
