#!/usr/bin/env bash
# Assemble BOOT.BIN for the ZCU102's SD card from the FSBL, the PMU
# firmware, the bitstream and the X-LIC firmware (xlic.bif says how).
#
#   boot/make-boot-bin.sh --fsbl FSBL.elf --pmufw PMUFW.elf --bit DESIGN.bit [--elf FIRMWARE.elf] [--out DIR]
#
# FSBL, PMU firmware and bitstream come from the Vivado/Vitis project of the
# ZCU102 design holding the xlic_layer IP (boot/README.md). The firmware
# defaults to the release build (`cargo xtask build --release`).
# Exit status: 0 built, 2 something is missing (each missing thing is named).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
fsbl="" pmufw="" bit="" elf="$repo/firmware/target/aarch64-unknown-none/release/xlic-firmware" out="$here/out"
while [ $# -gt 0 ]; do
    case "$1" in
        --fsbl) fsbl="$2"; shift 2 ;;
        --pmufw) pmufw="$2"; shift 2 ;;
        --bit) bit="$2"; shift 2 ;;
        --elf) elf="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "make-boot-bin: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

missing=()
if ! command -v bootgen >/dev/null 2>&1; then
    missing+=("bootgen is not on PATH: install Vivado/Vitis (2019.2 or later) and source its settings64.sh")
fi
check() { # what, path, hint
    if [ -z "$2" ]; then missing+=("$1: not given ($3)");
    elif [ ! -f "$2" ]; then missing+=("$1: $2 does not exist ($3)"); fi
}
check "FSBL (--fsbl)" "$fsbl" "Vitis: a zynqmp_fsbl application for the ZCU102 platform"
check "PMU firmware (--pmufw)" "$pmufw" "Vitis: a zynqmp_pmufw application"
check "bitstream (--bit)" "$bit" "Vivado: write_bitstream of the design with the xlic_layer IP"
check "firmware ELF (--elf)" "$elf" "run 'cargo xtask build --release'"
if [ ${#missing[@]} -gt 0 ]; then
    echo "make-boot-bin: cannot build BOOT.BIN; missing:" >&2
    for m in "${missing[@]}"; do echo "  - $m" >&2; done
    exit 2
fi

mkdir -p "$out"
cp "$here/xlic.bif" "$out/xlic.bif"
cp "$fsbl" "$out/fsbl.elf"
cp "$pmufw" "$out/pmufw.elf"
cp "$bit" "$out/xlic.bit"
cp "$elf" "$out/xlic-firmware.elf"
(cd "$out" && bootgen -arch zynqmp -image xlic.bif -o BOOT.BIN -w on)
echo "make-boot-bin: $out/BOOT.BIN (copy it to the card's FAT partition with MODEL.PKG and your images)"
