#!/bin/sh
# The recall service follows the catalogue (docs/catalogue.md, "The recall service"):
# served on a model of 300 items, it answers events on item 301 as unknown (and logs
# them); when the model file is replaced by one of a 400-item catalogue (the same
# first 300 rows), the same process replays the logged event on item 301 into the
# user's history and accepts new events on item 302, so that neither is recalled for
# that user again while other new items are. A restart on the larger model takes the
# logged events on the added items up from the start. A model of fewer items is refused.
set -u
. "$(dirname "$0")/cli_lib.sh"
pid=
trap '[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$NODE" synth --users 120 --items 400 --clusters 4 --seed 3 --out "$tmp/data" >/dev/null 2>&1 &&
    ok "synth" || bad "synth"
mkdir -p "$tmp/cat0" "$tmp/srv"
head -n 301 "$tmp/data/movies.csv" >"$tmp/cat0/movies.csv"
"$NODE" init-model --items "$tmp/cat0" --format movielens-csv --dim 8 --filters 8 --seed 1 \
    --out "$tmp/m300.frm" >/dev/null 2>&1 || bad "init-model 300"
"$NODE" init-model --items "$tmp/data" --format movielens-csv --dim 8 --filters 8 --seed 1 \
    --out "$tmp/m400.frm" >/dev/null 2>&1 || bad "init-model 400"
i301=$(sed -n '302p' "$tmp/data/movies.csv" | cut -d, -f1)
i302=$(sed -n '303p' "$tmp/data/movies.csv" | cut -d, -f1)
i1=$(sed -n '2p' "$tmp/data/movies.csv" | cut -d, -f1)
cp "$tmp/m300.frm" "$tmp/srv/global.frm"
S="serve --model $tmp/srv/global.frm --data $tmp/data --format movielens-csv --seq-len 10
    --listen 127.0.0.1:0 --poll-ms 50 --events-log $tmp/log"
# shellcheck disable=SC2086
server_start "$tmp/serve.log" $S && ok "serve on 300 items" || { bad "serve"; cat "$tmp/serve.log"; }
URL="http://127.0.0.1:$port"
spid=$pid
post() { curl -s -XPOST --data-binary "$1" "$URL/v1/events"; }
ev() { printf '{"user":"newbie","item":"%s","timestamp":%s}\n' "$1" "$2"; }
r=$(post "$(ev "$i1" 1600000000; ev "$i301" 1600000001)")
[ "$r" = '{"accepted":2,"unknown_items":1}' ] && ok "an event on a later item is unknown at first" ||
    bad "first post: $r"
curl -s "$URL/v1/health" | grep -q '"catalogue_items":300,' && ok "health: 300 catalogue items" ||
    bad "health: $(curl -s "$URL/v1/health")"

# the model file is replaced by one of the grown catalogue: no restart
cp "$tmp/m400.frm" "$tmp/srv/next.frm" && mv "$tmp/srv/next.frm" "$tmp/srv/global.frm"
i=0
while ! curl -s "$URL/v1/health" | grep -q '"catalogue_items":400,' && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
curl -s "$URL/v1/health" | grep -q '"catalogue_items":400,' && ok "the service follows the 400 items" ||
    bad "health after the swap: $(curl -s "$URL/v1/health"); $(tail -n 3 "$tmp/serve.log")"
grep -q "catalogue of 400 items followed: 1 logged events on the 100 added items taken up" \
    "$tmp/serve.log" && ok "the logged event on the added item is taken up" ||
    bad "log: $(tail -n 3 "$tmp/serve.log")"
curl -s "$URL/metrics" >"$tmp/metrics"
grep -q '^fedrecall_serve_events_replayed_added_total 1$' "$tmp/metrics" &&
    grep -q '^fedrecall_serve_catalogue_items 400$' "$tmp/metrics" &&
    grep -q '^fedrecall_serve_catalogue_follows_total 1$' "$tmp/metrics" &&
    ok "metrics count the follow and the replayed event" ||
    bad "metrics: $(grep catalogue "$tmp/metrics")"
r=$(post "$(ev "$i302" 1600000002)")
[ "$r" = '{"accepted":1,"unknown_items":0}' ] && ok "an event on an added item is accepted" ||
    bad "post after the swap: $r"
# the history holds the three items: none of them is recalled, every other item is
items_of() { grep -o '"item":"[^"]*"' | cut -d'"' -f4; }
curl -s "$URL/v1/recall?user=newbie&k=400&strategy=model" | items_of >"$tmp/rec"
n=$(wc -l <"$tmp/rec")
seen=$(grep -cx "$i1\|$i301\|$i302" "$tmp/rec")
added=$(awk -F, 'NR > 302 {print $1}' "$tmp/data/movies.csv" | grep -cxFf - "$tmp/rec")
[ "$n" = 397 ] && [ "$seen" = 0 ] && [ "$added" = 98 ] && kill -0 "$spid" &&
    ok "the same process recalls 397 items: none of the user's 3, all 98 other added ones" ||
    bad "recall after the swap: $n items, $seen seen, $added added"
# a smaller catalogue is refused (histories hold rows it lacks), the 400 items kept
cp "$tmp/m300.frm" "$tmp/srv/next.frm" && mv "$tmp/srv/next.frm" "$tmp/srv/global.frm"
i=0
while ! grep -q "fewer than the 400 of the model served" "$tmp/serve.log" && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
curl -s "$URL/v1/recall?user=newbie&k=400&strategy=model" | items_of >"$tmp/rec1"
grep -q "300 items, fewer than the 400 of the model served (a catalogue only grows)" "$tmp/serve.log" &&
    [ "$(wc -l <"$tmp/rec1")" = 397 ] && ok "a model of fewer items is refused, the 400 kept" ||
    bad "smaller model: $(tail -n 2 "$tmp/serve.log")"
server_stop

# a restart on the grown model takes the logged events on the added items up at once
cp "$tmp/m400.frm" "$tmp/srv/global.frm"
# shellcheck disable=SC2086
server_start "$tmp/serve2.log" $S && ok "restart on 400 items" || bad "restart"
URL="http://127.0.0.1:$port"
curl -s "$URL/v1/recall?user=newbie&k=400&strategy=model" | items_of >"$tmp/rec2"
[ "$(wc -l <"$tmp/rec2")" = 397 ] && [ "$(grep -cx "$i1\|$i301\|$i302" "$tmp/rec2")" = 0 ] &&
    ok "after a restart the history holds the same 3 items" || bad "recall after the restart"
server_stop
finish
