#!/usr/bin/env bash
# acq_dims_test.sh — each specimen measured, through the real CLI: a dimensions CSV (good, and each
# kind of bad file refused with file:line:column before anything starts, exit 2, no run file), a
# series of four specimens with three different widths and specimen 2 marked invalid, certified:
# each specimen's tensile strength equals numpy's Fmax / (its own b × h) from the file's force,
# differs from the config's cross-section, and specimen 2 is excluded with its reason. Then the
# terminal: a technician played through a pty (acq_dims_tty.py) types dimensions (with garbage and
# an out-of-range value first), rejects a specimen, and ends the input early (outcome interrupted,
# data kept); then with the simulated caliper (acq_dims_caliper.py): good, garbage, silent.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit; cleanup on exit
PY=/usr/bin/python3
"$PY" -c 'import numpy, h5py' 2>/dev/null || { echo "acq_dims_test: no numpy/h5py for $PY: skipped"; exit 77; }

lab() { # NAME SPECIMENS [sed expressions] → $work/NAME.yaml
  local name=$1 n=$2
  shift 2
  sed -e "s/specimens: 5/specimens: $n/" "$@" "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" >"$work/$name.yaml"
}
lab four 4

# --- bad CSV files: each refused before the run, naming the place -----------------------------
bad() { # description, expected message fragment, CSV text
  printf '%b' "$3" >"$work/bad.csv"
  expect_exit 2 "CSV $1" "$PD_CLI" run "$work/four.yaml" -o "$work/bad-runs" --dimensions "$work/bad.csv"
  grep -qF -- "$2" "$work/err" || { fail "CSV $1: message lacks '$2'"; cat "$work/err" >&2; }
  [ -e "$work/bad-runs" ] && fail "CSV $1: a run was started"
}
h='specimen,width,thickness\n'
bad "empty file" "bad.csv:1:1: empty file" ''
bad "wrong first column" "bad.csv:1:1: the first column must be 'specimen'" 'width,thickness\n1,10\n'
bad "unit not mm" "bad.csv:1:10: column 'width' in 'in'" 'specimen,width [in],thickness\n'
bad "unknown column" "column 'colour' is not a dimension of method iso527" 'specimen,width,thickness,colour\n1,10,4,3\n'
bad "missing thickness column" "no 'thickness' column" 'specimen,width\n1,10\n2,10\n3,10\n4,10\n'
bad "quoted field" "bad.csv:3:3: quotes are not supported" "${h}1,10,4\n2,\"10,1\",4\n"
bad "garbage number" "bad.csv:3:3: width '1O.1' is not a number" "${h}1,10,4\n2,1O.1,4\n3,10,4\n4,10,4\n"
bad "hex number" "bad.csv:2:3: width '0x10' is not a number" "${h}1,0x10,4\n"
bad "nan" "bad.csv:2:8: thickness 'nan' is not a number" "${h}1,10.0,nan\n"
bad "too few fields" "bad.csv:3:" "${h}1,10,4\n2,10\n"
bad "too many fields" "bad.csv:2:" "${h}1,10,4,5\n"
bad "specimen out of order" "bad.csv:3:1: specimen '3': expected 2" "${h}1,10,4\n3,10,4\n"
bad "empty thickness" "bad.csv:3:6: thickness missing" "${h}1,10,4\n2,10,\n3,10,4\n4,10,4\n"
bad "out of range" "bad.csv:4:3: width 2000 mm outside the method's range" "${h}1,10,4\n2,10,4\n3,2000,4\n4,10,4\n"
bad "negative" "bad.csv:2:6: thickness -4 mm outside" "${h}1,10,-4\n2,10,4\n3,10,4\n4,10,4\n"
bad "count" "3 specimen rows, the run" "${h}1,10,4\n2,10,4\n3,10,4\n"
bad "control character" "bad.csv:2:4: control character" "${h}1,1\x010,4\n"
bad "reason not last" "'invalid_reason' must be the last column" 'specimen,invalid_reason,width,thickness\n'
bad "reason too long" "bad.csv:2:8: invalid_reason longer than 100" "specimen,width,thickness,invalid_reason\n1,10,4,$(printf 'x%.0s' $(seq 101))\n"
expect_exit 2 "missing CSV" "$PD_CLI" run "$work/four.yaml" -o "$work/bad-runs" --dimensions "$work/none.csv"
grep -q "none.csv: cannot open" "$work/err" || fail "missing CSV named"

# --- a good CSV: three widths, specimen 2 invalid ------------------------------------------------
cat >"$work/dims.csv" <<'CSV'
specimen,width_mm,thickness [mm],invalid_reason
1, 9.60,4.10,
2,10.00,4.00,broke outside the gauge length
3,10.45,3.70,

4,10.90,4.05,
CSV
expect_exit 0 "run with CSV" "$PD_CLI" run "$work/four.yaml" -o "$work/runs" --dimensions "$work/dims.csv"
run=$(head -n1 "$work/out")
expect_exit 0 "certify" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$work/certs"
cert=$(head -n1 "$work/out")
"$PY" - "$run" "$cert" "$work/dims.csv" <<'PYEOF' || fail "per-specimen dimensions in the file and on the certificate"
import h5py, json, sys, numpy as np
run, cert, csv = sys.argv[1:4]
f = h5py.File(run, "r")
c = json.load(open(cert))
want = {1: (9.60, 4.10), 2: (10.00, 4.00), 3: (10.45, 3.70), 4: (10.90, 4.05)}
spec = {s["id"][-3:]: s for s in c["specimens"]}
bad = 0
def check(cond, what):
    global bad
    if not cond:
        print("FAIL:", what); bad += 1
for k, (b, h) in want.items():
    g = f["specimen_%02d" % k]
    s = g["sample"]
    check(abs(s["width"][()] - b) < 1e-12 and abs(s["thickness"][()] - h) < 1e-12, "specimen %d: b, h in the file" % k)
    line = k + 1 + (1 if k == 4 else 0)  # a blank line before row 4
    check(s["width_source"][()].decode() == "csv %s:%d" % (csv, line), "specimen %d: width_source %r" % (k, s["width_source"][()]))
    check(s["gauge_length_source"][()].decode() == "config", "specimen %d: gauge length from the config" % k)
    sp = spec["S%02d" % k]
    check(abs(sp["dimensions"]["width_mm"] - b) < 1e-12 and abs(sp["dimensions"]["thickness_mm"] - h) < 1e-12,
          "specimen %d: certificate width and thickness (the excluded one too)" % k)
    if k == 2:
        check(g["status"][()].decode() == "invalid: broke outside the gauge length", "specimen 2 status")
        check(s["invalid_reason"][()].decode() == "broke outside the gauge length", "specimen 2 invalid_reason")
        check(s["invalid_by"][()].decode() == "ctest", "specimen 2 invalid_by (the config's operator)")
        ev = [(e["kind"].decode(), e["text"].decode()) for e in g["events"][()]]
        check(any(kd == "invalid" and "broke outside the gauge length (by ctest" in t for kd, t in ev), "specimen 2 invalid event")
        check("broke outside the gauge length" in sp.get("excluded_reason", ""), "specimen 2 excluded with its reason")
        check("results" not in sp, "specimen 2 has no results")
        continue
    force = np.asarray(g["frame1/force"][()], dtype=float)
    sigma = np.nanmax(force) / (b * h)
    got = sp["results"]["tensile_strength"]["value"]
    check(abs(got - sigma) <= 1e-9 * sigma, "specimen %d: σm %.9g, numpy %.9g" % (k, got, sigma))
    nominal = np.nanmax(force) / (10.0 * 4.0)
    check(abs(got - nominal) > 0.01 * nominal, "specimen %d: σm differs from the config's cross-section" % k)
st = c["series"]["tensile_strength"]
vals = [spec["S%02d" % k]["results"]["tensile_strength"]["value"] for k in (1, 3, 4)]
check(st["n"] == 3 and abs(st["mean"] - np.mean(vals)) < 1e-9 * st["mean"], "series of the 3 valid specimens")
check(len(set(round(v, 6) for v in vals)) == 3, "three different stresses")
sys.exit(1 if bad else 0)
PYEOF

# ISO 868: each specimen's own (stack) thickness from the CSV, one marked invalid
printf 'specimen,thickness\n1,6.1\n2,3.5\n3,6.3\n' >"$work/shore.csv"
expect_exit 0 "ISO 868 with CSV" "$PD_CLI" run "$PD_SOURCE_DIR/config/shore.yaml" -o "$work/s-runs" --dimensions "$work/shore.csv"
grep -q "specimen 2: thickness 3.5 mm is below the 4 mm ISO 868 asks for" "$work/err" || fail "ISO 868: thin stack said"
"$PY" - "$(head -n1 "$work/out")" <<'PYEOF' || fail "ISO 868 thicknesses in the file"
import h5py, sys
f = h5py.File(sys.argv[1], "r")
got = [f["specimen_%02d/sample/thickness" % k][()] for k in (1, 2, 3)]
sys.exit(0 if got == [6.1, 3.5, 6.3] else "thicknesses %r" % got)
PYEOF
printf 'specimen,width,thickness\n1,10,6\n2,10,6\n3,10,6\n' >"$work/shore-bad.csv"
expect_exit 2 "ISO 868 CSV with a width" "$PD_CLI" run "$PD_SOURCE_DIR/config/shore.yaml" -o "$work/s-runs" --dimensions "$work/shore-bad.csv"
grep -q "column 'width' is not a dimension of method iso868 (thickness, invalid_reason)" "$work/err" || fail "ISO 868: width refused"

# the PDF's per-specimen table names the excluded specimen's reason
if command -v pdftotext >/dev/null; then
  pdftotext -layout "${cert%.json}.pdf" "$work/cert.txt" || fail "pdftotext"
  grep -q "broke outside the gauge length" "$work/cert.txt" || fail "the PDF lists specimen 2's reason"
fi

# --- the caliper simulator's own line format (what config/instruments/caliper.yaml parses) -----
if [ -n "${PD_SIM:-}" ]; then
  echo 9.87 >"$work/display"
  "$PD_SIM" caliper --tcp 127.0.0.1:0 --control "$work/display" >"$work/sim.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do grep -q listening "$work/sim.out" && break; sleep 0.1; done
  port=$(sed -n 's/^listening tcp-raw:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$work/sim.out")
  "$PY" - "$port" "$work/display" <<'PYEOF' || fail "caliper simulator line format"
import socket, sys
port, display = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(1.0)
bad = 0
for shown, want in (("9.87", b"01A+0009.870\r"), ("-1.5", b"01A-0001.500\r"), ("garbage", b"01A+00?#.1x\r"),
                    ("123.4567", b"01A+0123.457\r")):
    open(display, "w").write(shown + "\n")
    s.sendall(b"1\r")
    got = s.recv(100)
    if got != want:
        print("FAIL: display %s: %r, expected %r" % (shown, got, want)); bad += 1
open(display, "w").write("silent\n")
s.sendall(b"1\r")
try:
    print("FAIL: silent answered %r" % s.recv(100)); bad += 1
except socket.timeout:
    pass
sys.exit(bad)
PYEOF
fi

# --- the terminal ------------------------------------------------------------------------------
lab prompt 3 -e 's/^specimen:/specimen:\n  dimensions: prompt/'
expect_exit 2 "prompt without a terminal" "$PD_CLI" run "$work/prompt.yaml" -o "$work/p-runs" </dev/null
grep -q "stdin is not a terminal" "$work/err" || fail "prompt without a terminal: message"
"$PY" "$PD_SOURCE_DIR/tests/integration/acq_dims_tty.py" "$PD_CLI" "$work/prompt.yaml" "$work/p-runs" ||
  fail "the technician at the terminal (acq_dims_tty.py)"
"$PY" "$PD_SOURCE_DIR/tests/integration/acq_dims_tty.py" "$PD_CLI" "$work/prompt.yaml" "$work/p2-runs" ctrl-c ||
  fail "Ctrl-C at a question (acq_dims_tty.py ctrl-c)"

# --- the caliper: config/instruments/caliper.yaml in the fast lab, its display from a control file
lab caliper 2 -e 's/^specimen:/specimen:\n  dimensions: prompt\n  caliper: caliper1/'
sed -n '/^name:/,$p' "$PD_SOURCE_DIR/config/instruments/caliper.yaml" |
  sed -e '1s/^/  - /' -e '2,$s/^/    /' -e "s|args: \[caliper, --value, \"10.000\"\]|args: [caliper, --control, \"$work/display\"]|" \
  >>"$work/caliper.yaml"
grep -q -- "--control" "$work/caliper.yaml" || fail "caliper lab: the simulator's control file set"
"$PY" "$PD_SOURCE_DIR/tests/integration/acq_dims_caliper.py" "$PD_CLI" "$work/caliper.yaml" "$work/c-runs" "$work/display" ||
  fail "the technician with the caliper (acq_dims_caliper.py)"
# a caliper that is not one of the run's instruments is refused before anything starts
lab nocal 2 -e 's/^specimen:/specimen:\n  dimensions: prompt\n  caliper: caliper9/'
expect_exit 2 "unknown caliper" "$PD_CLI" run "$work/nocal.yaml" -o "$work/n-runs"
grep -q "nocal.yaml:16:12: specimen.caliper: caliper 'caliper9' is not one of the run's instruments" "$work/err" || {
  fail "unknown caliper: message"; cat "$work/err" >&2; }
lab cal-csv 2 -e 's/^specimen:/specimen:\n  caliper: caliper1/'
expect_exit 2 "caliper without prompt" "$PD_CLI" run "$work/cal-csv.yaml" -o "$work/n-runs"
grep -q "cal-csv.yaml:15:12: .*it needs 'dimensions: prompt'" "$work/err" || fail "caliper without prompt: message"

[ "$fails" -eq 0 ] || exit 1
echo "acq_dims_test: passed"
