#!/bin/sh
# Command-line behaviour of fedrecall-node recall on a small end-to-end run (synth ->
# train -> recall): the output format, seen items, -k and --k, the threshold, every
# strategy, batch mode against single users, and bad input, which must end with one
# line on stderr and exit code 2. Prints "ok"/"not ok" per case and a TESTS tally.
set -u
. "$(dirname "$0")/cli_lib.sh"

"$NODE" synth --users 150 --items 90 --clusters 3 --seed 5 --out "$tmp/data" >/dev/null 2>&1 \
    && ok "synth" || bad "synth"
"$NODE" train --data "$tmp/data" --format movielens-csv --epochs 1 --dim 8 --filters 8 \
    --seq-len 10 --negatives 16 --batch 32 --model-out "$tmp/m.frm" >"$tmp/train.log" 2>&1 \
    && ok "train" || { bad "train"; cat "$tmp/train.log"; }

D="--data $tmp/data --format movielens-csv --seq-len 10"
R="$NODE recall --model $tmp/m.frm $D"
# two users of the data, and the items each has seen
u1=$(awk -F, 'NR == 2 { print $1 }' "$tmp/data/ratings.csv")
u2=$(awk -F, 'NR > 1 && $1 != u { print $1; exit }' u="$u1" "$tmp/data/ratings.csv")
awk -F, 'NR > 1 && $1 == u { print $2 }' u="$u1" "$tmp/data/ratings.csv" | sort -u >"$tmp/seen1"
items=$(awk -F, 'NR > 1 { print $2 }' "$tmp/data/ratings.csv" | sort -u | wc -l)

# format: k lines of id, score, source; best first; nothing the user has seen
$R --user "$u1" >"$tmp/r10" 2>"$tmp/err"
if [ "$(wc -l <"$tmp/r10")" -eq 10 ] \
   && awk -F'\t' 'NF != 3 || $3 != "model" || (NR > 1 && $2 > prev) { exit 1 } { prev = $2 }' \
        "$tmp/r10" \
   && [ -z "$(cut -f1 "$tmp/r10" | sort | comm -12 - "$tmp/seen1")" ]; then
    ok "recall: 10 lines, best first, no seen item"
else
    bad "recall format"
    cat "$tmp/r10" "$tmp/err"
fi

# -k and --k; a shorter list is the head of a longer one (one ranking)
$R --user "$u1" -k 3 >"$tmp/k3a" 2>/dev/null
$R --user "$u1" --k 3 >"$tmp/k3b" 2>/dev/null
$R --user "$u1" --k 40 >"$tmp/k40" 2>/dev/null
if [ "$(wc -l <"$tmp/k3a")" -eq 3 ] && cmp -s "$tmp/k3a" "$tmp/k3b" \
   && head -n 10 "$tmp/k40" | cmp -s - "$tmp/r10"; then
    ok "-k 3 = --k 3; top 10 of 40 = top 10"
else
    bad "-k / --k"
fi

# --include-seen over the whole catalogue returns every item once
$R --user "$u1" -k 100000 --include-seen >"$tmp/all" 2>/dev/null
seen_n=$(wc -l <"$tmp/seen1")
$R --user "$u1" -k 100000 >"$tmp/unseen" 2>/dev/null
if [ "$(cut -f1 "$tmp/all" | sort -u | wc -l)" -eq "$items" ] \
   && [ "$(wc -l <"$tmp/all")" -eq "$items" ] \
   && [ "$(wc -l <"$tmp/unseen")" -eq $((items - seen_n)) ]; then
    ok "include-seen: all $items items; without: $((items - seen_n))"
else
    bad "include-seen: $(wc -l <"$tmp/all") and $(wc -l <"$tmp/unseen") of $items items"
fi

# threshold: the items scoring above the midpoint of the third and fourth scores are the
# first three (at most k). Not the third score itself: a printed score is rounded to 6
# digits, so the item's own score may lie on either side of its print.
s3=$(awk -F'\t' 'NR == 3 { a = $2 } NR == 4 { printf "%.9g\n", (a + $2) / 2 }' "$tmp/r10")
$R --user "$u1" --threshold "$s3" >"$tmp/thr" 2>/dev/null
above=$(awk -F'\t' '$2 > s' s="$s3" "$tmp/r10" | wc -l)
$R --user "$u1" --threshold -1e9 -k 4 >"$tmp/thr4" 2>/dev/null
if [ "$(wc -l <"$tmp/thr")" -eq "$above" ] && head -n "$above" "$tmp/r10" | cmp -s - "$tmp/thr" \
   && [ "$(wc -l <"$tmp/thr4")" -eq 4 ]; then
    ok "threshold: $above items above $s3; capped at k"
else
    bad "threshold $s3"
fi

# strategies: their own sources, no repeats, nothing seen
for s in itemcf popular mix; do
    $R --user "$u1" --strategy "$s" >"$tmp/$s" 2>"$tmp/err"
    srcs=$(cut -f3 "$tmp/$s" | sort -u | tr '\n' ' ')
    case "$s" in mix) want="itemcf model popular " ;; *) want="$s " ;; esac
    if [ "$(wc -l <"$tmp/$s")" -eq 10 ] && [ "$srcs" = "$want" ] \
       && [ "$(cut -f1 "$tmp/$s" | sort -u | wc -l)" -eq 10 ] \
       && [ -z "$(cut -f1 "$tmp/$s" | sort | comm -12 - "$tmp/seen1")" ]; then
        ok "strategy $s: sources $srcs"
    else
        bad "strategy $s: sources $srcs"
        cat "$tmp/$s" "$tmp/err"
    fi
done
"$NODE" recall $D --user "$u1" --strategy popular -k 5 >"$tmp/pop_nomodel" 2>/dev/null \
    && head -n 5 "$tmp/popular" | cmp -s - "$tmp/pop_nomodel" \
    && ok "popular needs no model" || bad "popular without --model"

# batch: user column added, each user's lines as in single mode, blank lines skipped
printf '%s\n\n  %s \n%s\n' "$u1" "$u2" "$u1" >"$tmp/users"
$R --users "$tmp/users" -k 5 >"$tmp/batch" 2>"$tmp/err"
$R --user "$u2" -k 5 2>/dev/null | cut -f1 >"$tmp/r2.ids"
head -n 5 "$tmp/k40" | cut -f1 >"$tmp/r1.ids"
awk -F'\t' '$1 == u { print $2 }' u="$u2" "$tmp/batch" >"$tmp/b2.ids"
awk -F'\t' 'NR <= 5 { print $2 }' "$tmp/batch" >"$tmp/b1.ids"
if [ "$(wc -l <"$tmp/batch")" -eq 15 ] && awk -F'\t' 'NF != 4 { exit 1 }' "$tmp/batch" \
   && cmp -s "$tmp/b1.ids" "$tmp/r1.ids" && cmp -s "$tmp/b2.ids" "$tmp/r2.ids" \
   && [ "$(awk -F'\t' '$1 == u' u="$u1" "$tmp/batch" | wc -l)" -eq 10 ]; then
    ok "batch: 3 users x 5, each as in single mode"
else
    bad "batch"
    cat "$tmp/batch" "$tmp/err"
fi

# --timing: one line on stderr, the lists unchanged
$R --users "$tmp/users" -k 5 --timing >"$tmp/batch_t" 2>"$tmp/timing"
if cmp -s "$tmp/batch" "$tmp/batch_t" && [ "$(wc -l <"$tmp/timing")" -eq 1 ] \
   && grep -Eq '^recall: 3 users, k 5, on cpu: prepared in [0-9.]+ s, searched in [0-9.]+ s \([0-9]+ lists/s\)$' "$tmp/timing"; then
    ok "--timing: $(cat "$tmp/timing")"
else
    bad "--timing"
    cat "$tmp/timing"
fi


"$NODE" recall --help | grep -q -- "--strategy" && "$NODE" recall --help | grep -q -- "-k, --k" \
    && ok "recall --help" || bad "recall --help"

expect_usage "unknown user" recall --model "$tmp/m.frm" $D --user 999999999
grep -q "999999999" "$tmp/err" && ok "the message names the id" || bad "message: $(cat "$tmp/err")"
printf '%s\nnobody\n' "$u1" >"$tmp/users_bad"
expect_usage "unknown user in a list" recall --model "$tmp/m.frm" $D --users "$tmp/users_bad"
grep -q "users_bad:2: unknown user id 'nobody'" "$tmp/err" && ok "the message names line and id" \
    || bad "message: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] && ok "nothing printed before the error" || bad "partial output"
: >"$tmp/users_empty"
expect_usage "empty user list" recall --model "$tmp/m.frm" $D --users "$tmp/users_empty"
expect_usage "--user and --users" recall --model "$tmp/m.frm" $D --user "$u1" --users "$tmp/users"
expect_usage "neither --user nor --users" recall --model "$tmp/m.frm" $D
expect_usage "unknown strategy" recall --model "$tmp/m.frm" $D --user "$u1" --strategy best
expect_usage "mix with a threshold" recall --model "$tmp/m.frm" $D --user "$u1" --strategy mix \
    --threshold 0
expect_usage "model strategy without a model" recall $D --user "$u1"
expect_usage "k 0" recall --model "$tmp/m.frm" $D --user "$u1" -k 0
expect_usage "unknown short option" recall --model "$tmp/m.frm" $D --user "$u1" -q 3
expect_usage "seq-len 0" recall --model "$tmp/m.frm" --data "$tmp/data" --format movielens-csv \
    --user "$u1" --seq-len 0

finish
