#!/usr/bin/env bash
# The architecture trade-off of models/hone-intent/MODEL_CARD.md. For each argument
# VOCAB:DIM[:MLP] (e.g. 5000:64 or 5000:64:128) trains a candidate student with the shipped
# recipe (12 epochs, seed 42), evaluates it on CLINC150's val split (one 5-shot draw, one
# enrolment draw) and writes target/sweep/NAME.json (figures) and target/sweep/NAME/
# (checkpoint), then evaluates that checkpoint on the team-written held-out domains
# (tests/data/heldout-intents, test split, 3 draws; target/sweep/NAME-heldout.txt).
# One candidate at a time, at low priority; teacher embeddings come from the cache (only new
# vocabulary tokens are computed).
# Usage: [CLINC=dir] host-tools/hone-train/scripts/sweep.sh 5000:64 3000:96 5000:64:128
set -euo pipefail
cd "$(dirname "$0")/../../.."
CLINC="${CLINC:-../shared/data/clinc150}"  # relative to the repository root
cargo build -p hone-train --release --locked
mkdir -p target/sweep
for cand in "$@"; do
  IFS=: read -r v d mlp <<<"$cand"
  name="V$v-d$d${mlp:+-mlp$mlp}"
  echo "=== $name"
  nice -n 15 ./target/release/hone-train train --data "$CLINC" --seeds 1 \
    --vocab "$v" --dim "$d" --mlp "${mlp:-}" --epochs 12 \
    --out "target/sweep/$name" --report "target/sweep/$name.json" 2>"target/sweep/$name.log"
  for dom in vehicle fitness meeting_room; do
    nice -n 15 ./target/release/hone-train eval --data tests/data/heldout-intents --split test \
      --seeds 3 --enrol-domain "$dom" --model "target/sweep/$name" 2>>"target/sweep/$name.log"
  done | tee "target/sweep/$name-heldout.txt"
done
