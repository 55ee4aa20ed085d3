#!/bin/sh
# expert_ce on a multi-discrete action in a real training run: the scripted
# gridpick teacher's dataset (gridpick-expert-data: format version 2, i32 x 2
# actions), examples/gridpick/expert_ce.yaml next to it, 20480 env steps.
# The expert cross-entropy must fall by a quarter and the exact-match
# accuracy (both components) rise above 0.5 (the untrained policy: about
# 2.3 nats and 0.1-0.4).
# usage: gridpick_expert.sh GRIDPICK_EXPERT_DATA GRIDPICK_TRAIN EXAMPLES_GRIDPICK_DIR
set -eu
tool=$1
train=$2
src=$3
dir=$(mktemp -d "${TMPDIR:-/tmp}/lossplug-gpx.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$tool" --out "$dir/gridpick-expert.lpx" --steps 500
cp "$src/expert_ce.yaml" "$dir/expert_ce.yaml"
"$train" "$dir/expert_ce.yaml" --seed 1 --max-steps 20480 --quiet --stats "$dir/stats.csv"
awk -F, '
NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "expert/cross_entropy") ce = i; if ($i == "expert/accuracy") acc = i }
          if (!ce || !acc) { print "no expert columns in the stats"; exit 1 }; next }
NR == 2 { ce0 = $ce }
{ ce1 = $ce; acc1 = $acc }
END { printf "expert cross-entropy %.3f -> %.3f, accuracy %.3f\n", ce0, ce1, acc1
      if (!(ce1 < 0.75 * ce0 && acc1 > 0.5)) { print "FAIL: expert_ce did not learn the teacher"; exit 1 } }
' "$dir/stats.csv"
