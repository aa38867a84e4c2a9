#!/usr/bin/env bash
# store_foreign_test.sh — a run file whose samples live outside it (external dataset storage, an
# external link, a virtual dataset) escapes the file's SHA-256: data could be swapped under a valid
# certificate. inspect, export, certify and recover refuse each such file, and one with a soft
# link the schema does not have, naming the object (exit 2, nothing written). The copies are made
# with h5py (tests/integration/make_foreign_runs.py); the untouched original still works.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit; cleanup on exit
SPEC="$PD_SOURCE_DIR/config/specs/pp-demo.yaml"

expect_exit 0 "run" "$PD_CLI" run "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" -o "$work/runs"
run=$(head -n1 "$work/out")
mkdir "$work/foreign"
target=$("$PY" "$PD_SOURCE_DIR/tests/integration/make_foreign_runs.py" "$run" "$work/foreign") ||
  { fail "making the foreign copies with h5py"; exit 1; }

expect_exit 0 "inspect of the original" "$PD_CLI" inspect "$run"
expect_exit 0 "certify of the original" "$PD_CLI" certify "$run" --spec "$SPEC" -o "$work/certs-ok"

check() { # file, the words the refusal must have
  local f=$1 what=$2
  expect_exit 2 "inspect $f" "$PD_CLI" inspect "$f"
  grep -qF "$f: run file uses $what" "$work/err" || fail "inspect $f names the file and the $what: $(cat "$work/err")"
  grep -q "refused" "$work/err" || fail "inspect $f says refused: $(cat "$work/err")"
  [ -s "$work/out" ] && fail "inspect $f printed a summary: $(head -n3 "$work/out")"
  expect_exit 2 "export $f" "$PD_CLI" export "$f" -f csv -o "$work/export.csv"
  grep -qF "$what" "$work/err" || fail "export $f names the $what: $(cat "$work/err")"
  [ -e "$work/export.csv" ] && fail "export $f wrote $work/export.csv"
  rm -f "$work/export.csv"
  expect_exit 2 "certify $f" "$PD_CLI" certify "$f" --spec "$SPEC" -o "$work/certs"
  grep -qF "$what" "$work/err" || fail "certify $f names the $what: $(cat "$work/err")"
  ls "$work/certs"/CERT-* >/dev/null 2>&1 && fail "certify $f wrote a certificate"
  expect_exit 2 "recover $f" "$PD_CLI" recover "$f" -o "$work/recovered.h5"
  grep -qF "$what" "$work/err" || fail "recover $f names the $what: $(cat "$work/err")"
  [ -e "$work/recovered.h5" ] && fail "recover $f wrote a copy"
  rm -f "$work/recovered.h5"
}
check "$work/foreign/external.h5" "external storage in $target"
check "$work/foreign/extlink.h5" "an external link at $target"
check "$work/foreign/virtual.h5" "a virtual dataset at $target"
check "$work/foreign/softlink.h5" "a soft link at /specimen_01/alias"

[ "$fails" -eq 0 ] || exit 1
echo "store_foreign_test: inspect, export, certify and recover refuse external storage, external and soft links, virtual datasets"
