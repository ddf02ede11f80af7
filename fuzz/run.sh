#!/usr/bin/env bash
# Runs a fuzz target (or all three, one after another) with cargo-fuzz / libFuzzer.
#
#   bash fuzz/run.sh TARGET BUDGET [libFuzzer options...]
#
# TARGET: loader | tokenizer | journal | tflite | all
# BUDGET: N (stop after N executions, -runs=N) or Ns (stop after N seconds, -max_total_time=N)
#
# The committed seeds (fuzz/seeds/TARGET) are read; inputs the fuzzer finds go to
# fuzz/corpus/TARGET (not committed) and crashes to fuzz/artifacts/TARGET. One process per
# target (no -jobs/-workers). Stable Rust is enough: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use
# its nightly flags. SANITIZER=none skips AddressSanitizer (faster; hone is safe Rust).
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 2 ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
target="$1"
budget="$2"
shift 2
case "$budget" in
  *s) limit="-max_total_time=${budget%s}" ;;
  *) limit="-runs=$budget" ;;
esac
case "$target" in
  all) targets=(loader tokenizer journal tflite) ;;
  loader | tokenizer | journal | tflite) targets=("$target") ;;
  *)
    echo "unknown target $target (loader, tokenizer, journal, tflite or all)" >&2
    exit 2
    ;;
esac

export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
sanitizer="${SANITIZER:-address}"

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  dict=()
  [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
  # The TFLite reader also starts from the shared models (read in place, never copied here).
  extra=()
  [ "$t" = tflite ] && [ -d ../../shared/data/tflite ] && extra=("../../shared/data/tflite")
  echo "=== fuzz $t ($limit, sanitizer $sanitizer) ==="
  cargo fuzz run -O --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" "${extra[@]}" -- \
    "$limit" "${dict[@]}" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" "$@" 2>&1 |
    grep --line-buffered -Ev '^#[0-9]+\s+(NEW|REDUCE|pulse)' || { echo "fuzz $t FAILED" >&2; exit 1; }
done
