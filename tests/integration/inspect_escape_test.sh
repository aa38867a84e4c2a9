#!/usr/bin/env bash
# inspect_escape_test.sh — a run file is a document from outside: text attributes carrying
# terminal escape sequences (clear screen, window title), carriage-return overwrites, backspaces
# and a bidi override (written with h5py, as anyone could) are printed by `polydaq inspect` as
# visible escapes, never as raw control bytes.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit; cleanup on exit
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "h5py not available: skipped"; exit 77; }

expect_exit 0 "run" "$PD_CLI" run "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" -o "$work/runs"
run=$(head -n1 "$work/out")
/usr/bin/python3 - "$run" <<'PY' || fail "h5py writes the hostile attributes"
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["operator"] = "\x1b[2J\x1b[HA. Tester\rVERIFIED"
    f.attrs["material"] = "PP \u202eDEIFIREV"
    f.attrs["outcome_reason"] = "ok\b\b\x1b]0;owned\x07 \u0085end"
PY
expect_exit 0 "inspect" "$PD_CLI" inspect "$run"
/usr/bin/python3 - "$work/out" <<'PY' || fail "inspect prints no raw control characters or bidi overrides"
import sys
data = open(sys.argv[1], "rb").read()
bad = [b for b in data if (b < 0x20 and b != 0x0A) or b == 0x7F]
sys.exit(1 if bad or "\u202e".encode() in data or "\u0085".encode() in data else 0)
PY
grep -qF 'operator           \x1B[2J\x1B[HA. Tester\x0DVERIFIED' "$work/out" || fail "the operator shown escaped"
grep -qF 'material           PP \u{202E}DEIFIREV' "$work/out" || fail "the bidi override shown escaped"
grep -qF 'ok\x08\x08\x1B]0;owned\x07 \u{85}end' "$work/out" || fail "backspaces, OSC and C1 shown escaped"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  cat "$work/out" >&2
  exit 1
fi
echo "inspect_escape_test: all checks passed"
