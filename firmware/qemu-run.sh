#!/usr/bin/env bash
# Cargo runner: runs a firmware ELF under QEMU and decodes its defmt output.
# Usage: qemu-run.sh (mps2-an386|microbit) app.elf
# The exit status is QEMU's (the firmware's semihosting exit code; 124 on time-out).
set -euo pipefail
machine=$1 elf=$2
case $machine in
  mps2-an386) cpu=(-cpu cortex-m4) ;;
  microbit) cpu=() ;;
  *) echo "unknown machine $machine" >&2; exit 2 ;;
esac
# -icount shift=10: one instruction = 1024 ns of virtual time, so the firmware's timers
# count instructions deterministically. Never -nographic (fails without a terminal).
timeout "${QEMU_TIMEOUT:-120}" qemu-system-arm -machine "$machine" "${cpu[@]}" \
  -display none -serial null -monitor none -icount shift=10 \
  -semihosting-config enable=on,target=native -kernel "$elf" \
  | defmt-print -e "$elf"
