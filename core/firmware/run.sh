#!/usr/bin/env bash
# The embedded proof, as CI runs it: build the firmware, run the selftest under qemu-system-arm on a
# Cortex-M4 (mps2-an386, thumbv7em-none-eabihf) and on a Cortex-M0 (microbit, thumbv6m-none-eabi: no
# compare-and-swap) -- a non-zero exit status on any violation fails this script -- then the minimal
# example and the size and speed anchors (ringfork's SPSC ring vs heapless::spsc, same program), whose
# numbers docs/embedded.md reports. Needs: both targets (rustup), qemu-system-arm, readelf.
set -euo pipefail
cd "$(dirname "$0")"

BIN=target/thumbv7em-none-eabihf/release
BIN_M0=target/thumbv6m-none-eabi/release
SEMIHOSTING=(-nographic -semihosting-config enable=on,target=native)
QEMU=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 "${SEMIHOSTING[@]}")
QEMU_M0=(qemu-system-arm -machine microbit "${SEMIHOSTING[@]}")

cargo build --release --bins
cargo build --release --target thumbv6m-none-eabi --bin selftest

echo "--- selftest on a Cortex-M4 (SysTick handler vs main loop: SPSC, MPMC, byte ring, spin lock, Value, Event)"
timeout 120 "${QEMU[@]}" -kernel "$BIN/selftest"
echo "--- selftest on a Cortex-M0 (the same, with read-modify-writes in critical sections)"
timeout 120 "${QEMU_M0[@]}" -kernel "$BIN_M0/selftest"

echo "--- the minimal example of docs/embedded.md"
timeout 60 "${QEMU[@]}" -kernel "$BIN/example"

echo "--- anchors (-icount shift=0: virtual time advances one ns per instruction)"
for b in spsc_ringfork spsc_heapless; do
    timeout 60 "${QEMU[@]}" -icount shift=0 -kernel "$BIN/$b"
done

# Section and symbol sizes straight from the ELF files (readelf works on any architecture's ELF).
text_size() { echo $((16#$(readelf -SW "$1" | awk '{ for (i = 1; i < NF; i++) if ($i == ".text") print $(i + 4) }'))); }
sym_size() { readelf -sW "$1" | awk -v pat="$2" '$4 == "FUNC" && $8 ~ pat { s += $3 } END { print s + 0 }'; }
if ! command -v readelf >/dev/null; then
    echo "--- readelf (binutils) not installed: size table skipped"
    exit 0
fi
echo "--- .text bytes (opt-level = \"s\", LTO)"
printf '%-16s %8s %8s %8s\n' program .text push pop
for b in spsc_ringfork spsc_heapless; do
    printf '%-16s %8s %8s %8s\n' "$b" "$(text_size "$BIN/$b")" \
        "$(sym_size "$BIN/$b" "${b}4push")" "$(sym_size "$BIN/$b" "${b}3pop")"
done
