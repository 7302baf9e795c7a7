#!/usr/bin/env bash
# Builds the no_std canary for thumbv7em-none-eabihf and runs both binaries
# on an emulated Cortex-M4 (qemu-system-arm, mps2-an386); semihosting gives
# their output and exit code. Prints flash / static RAM (`llvm-size`, or
# `arm-none-eabi-size`) and what each binary reports (state, peak stack).
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm.
set -euo pipefail
cd "$(dirname "$0")"
target=thumbv7em-none-eabihf
cargo build --release --target "$target"
dir="${CARGO_TARGET_DIR:-target}/$target/release"
size=$(command -v llvm-size || command -v arm-none-eabi-size || true)
for bin in conn-only mconn-nostd-canary; do
    rc=0
    out=$(timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
        -monitor none -semihosting-config enable=on,target=native -kernel "$dir/$bin") || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$out"
        echo "canary $bin failed on qemu (exit code $rc)"
        exit 1
    fi
    echo "$out"
    grep -q ": ok;" <<<"$out" || { echo "canary $bin did not report success"; exit 1; }
    if [ -n "$size" ]; then "$size" "$dir/$bin" | tail -n 1; fi
done
