#!/usr/bin/env bash
# Cross-compiles every firmware core (firmware/*/core/*.c) and the Cortex-M4 hal skeletons
# (firmware/*/hal/cortex-m4/*.c) for a Cortex-M4F, freestanding, compile only: proves the cores
# need no OS, no heap and no libc/libm (-nostdinc leaves only the compiler's own freestanding
# headers: stdint.h, stddef.h, float.h, ...).
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
CC=${ARM_CC:-arm-none-eabi-gcc}
if ! command -v "$CC" >/dev/null; then
  echo "firmware-cortex-m4: $CC not found (Debian package gcc-arm-none-eabi)" >&2
  exit 1
fi
GCC_INCLUDE=$("$CC" -print-file-name=include)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
FLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -ffreestanding -nostdlib -std=c11
       -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -O2
       -nostdinc -isystem "$GCC_INCLUDE" -I "$ROOT/firmware")
shopt -s nullglob
n=0
for src in "$ROOT"/firmware/*/core/*.c "$ROOT"/firmware/*/hal/cortex-m4/*.c; do
  rel=${src#"$ROOT"/}
  obj="$OUT/$(echo "$rel" | tr '/' '_').o"
  "$CC" "${FLAGS[@]}" -c "$src" -o "$obj"
  n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
  echo "firmware-cortex-m4: no firmware sources found under $ROOT/firmware" >&2
  exit 1
fi
echo "firmware-cortex-m4: $n files compile for cortex-m4 (freestanding, no libc/libm headers)"
