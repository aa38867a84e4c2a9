#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs each for a
# few seconds (PD_FUZZ_SECONDS, default 10); a crash, leak or sanitizer report fails the check. The
# module libraries are compiled with coverage (fuzzer-no-link) so the parsers guide the search.
set -eu
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SECONDS_EACH=${PD_FUZZ_SECONDS:-10}
CC_FUZZ=$(command -v clang-14 || command -v clang)
dir="$ROOT/build-fuzz"
cmake -S "$ROOT" -B "$dir" -DCMAKE_C_COMPILER="$CC_FUZZ" -DPOLYDAQ_FUZZ=ON \
      -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" -DPOLYDAQ_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=$(cd "$ROOT/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_/fuzz-/; s/\.c$//')
cmake --build "$dir" --target $targets -j2 >/dev/null
for t in $targets; do
  corpus="$dir/corpus-$t"
  mkdir -p "$corpus"
  "$dir/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -max_len=512 -print_final_stats=1 "$corpus" \
    >"$dir/$t.log" 2>&1 || { tail -40 "$dir/$t.log" >&2; echo "fuzz: $t failed" >&2; exit 1; }
  echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/$t.log" | grep -o '[0-9]*$' || echo '?') runs)"
done
