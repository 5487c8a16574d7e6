#!/bin/sh
# train --recipe: the default is "tuned", "peer" is the spec's benchmark configuration
# and trains exactly as "tuned" with every setting overridden to the peer's, options
# override a recipe, --dp starts from "peer", and an unknown recipe is a usage error.
set -u
. "$(dirname "$0")/cli_lib.sh"

"$NODE" synth --users 150 --items 90 --clusters 3 --seed 5 --out "$tmp/data" >/dev/null 2>&1 \
    && ok "synth" || bad "synth"
small="--data $tmp/data --format movielens-csv --epochs 2 --dim 16 --filters 16 --seq-len 12 \
--batch 32 --eval-users 100"
field() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# shellcheck disable=SC2086
"$NODE" train $small --metrics-out "$tmp/tuned.json" >"$tmp/log" 2>&1 || { bad "train"; cat "$tmp/log"; }
[ "$(field "$tmp/tuned.json" 'j["config"]["recipe"]["name"]')" = tuned ] &&
    [ "$(field "$tmp/tuned.json" 'j["config"]["negatives"]')" = 256 ] &&
    [ "$(field "$tmp/tuned.json" 'j["config"]["recipe"]["dropout"] > 0')" = True ] &&
    ok "the default recipe is tuned" || bad "default recipe: $(field "$tmp/tuned.json" 'j["config"]')"

# shellcheck disable=SC2086
"$NODE" train $small --recipe peer --metrics-out "$tmp/peer.json" >/dev/null 2>&1
# shellcheck disable=SC2086
"$NODE" train $small --negatives 128 --lr 1e-3 --warmup 0 --lr-final 1 --weight-decay 0 \
    --pop-alpha 0 --dropout 0 --item-dropout 0 --metrics-out "$tmp/over.json" >/dev/null 2>&1
losses() { field "$1" '[e["loss"] for e in j["epochs"]]'; }
[ "$(field "$tmp/peer.json" 'j["config"]["negatives"]')" = 128 ] &&
    [ -n "$(losses "$tmp/peer.json")" ] && [ "$(losses "$tmp/peer.json")" = "$(losses "$tmp/over.json")" ] &&
    ok "peer = tuned with every setting overridden: losses $(losses "$tmp/peer.json")" ||
    bad "peer $(losses "$tmp/peer.json") against overridden tuned $(losses "$tmp/over.json")"
[ "$(losses "$tmp/peer.json")" != "$(losses "$tmp/tuned.json")" ] &&
    ok "tuned trains differently" || bad "tuned and peer give the same losses"

# shellcheck disable=SC2086
"$NODE" train $small --dropout 0.5 --negatives 64 --metrics-out "$tmp/o.json" >/dev/null 2>&1
[ "$(field "$tmp/o.json" 'j["config"]["negatives"], j["config"]["recipe"]["dropout"]')" = "(64, 0.5)" ] &&
    ok "options override the recipe" || bad "override: $(field "$tmp/o.json" 'j["config"]')"

# shellcheck disable=SC2086
"$NODE" train $small --dp --dp-noise 1 --dp-sampling-rate 0.2 --state-dir "$tmp/st" \
    --metrics-out "$tmp/dp.json" >"$tmp/dplog" 2>&1
[ "$(field "$tmp/dp.json" 'j["config"]["recipe"]["name"], round(j["config"]["lr"], 6)')" = "('dp', 0.01)" ] &&
    ! grep -q "do not apply" "$tmp/dplog" &&
    ok "--dp starts from the dp recipe (lr 1e-2)" ||
    { bad "--dp recipe: $(field "$tmp/dp.json" 'j["config"]')"; cat "$tmp/dplog"; }
# shellcheck disable=SC2086
"$NODE" train $small --recipe tuned --dp --dp-noise 1 --dp-sampling-rate 0.2 --state-dir "$tmp/st2" \
    --metrics-out "$tmp/dp2.json" >"$tmp/dplog" 2>&1
grep -q "do not apply" "$tmp/dplog" && ok "--recipe tuned --dp says what does not apply" ||
    { bad "--recipe tuned --dp"; cat "$tmp/dplog"; }

# shellcheck disable=SC2086
expect_usage "unknown recipe" train $small --recipe fastest
expect_usage "dropout 1" train $small --dropout 1
finish
