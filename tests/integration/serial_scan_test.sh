#!/usr/bin/env bash
# serial_scan_test.sh — `polydaq scan`: the port list works without hardware; one `--probe` call
# identifies each simulator — balance, durometer and melt flow indexer on `--pty auto` ptys, a
# load frame on a Modbus RTU pty (named by its bare path, so scan must find out it is Modbus) and
# one on Modbus TCP, a balance on raw TCP — from the instrument library (config/instruments), sending
# only identity queries; the printed sections, pasted into a lab config as they are, make a Shore
# run whose HDF5 file has every instrument's serial number and — though no section has a
# `simulator:` — marks every instrument, the run and each sample simulated, from the identity
# answers alone (MT-SICS I2, the identify `simulated` field, the Modbus identity register), so a
# hand-started simulator's data can never pass for real ones. A library entry whose slave_id does not
# match is not chosen; a port where nothing answers is reported and exits 3.
# Each section carries the device's own identity (model, serial, firmware as the device reports
# them: MT-SICS I2/I3/I4, the identify answer, Modbus report-slave-id and identity registers), never
# the library's example model or demo calibration, and a calibration of placeholders that `run`
# refuses, naming the place, until the lab fills in its own record.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, cleanup on exit
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$PD_CLI" scan >"$work/list" 2>"$work/list.err" || fail "scan (list) failed: $(cat "$work/list.err")"
grep -q "/dev/pts/" "$work/list" && fail "scan lists ptys"

# start NAME ARGS...: a simulator whose announcement goes to $work/NAME.out
start() {
  local name=$1
  shift
  "$PD_SIM" "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}
start bal balance --pty auto --serial SCAN-42 --model XS205-LAB
start baltcp balance --tcp 127.0.0.1:0 --serial SCAN-43
start dur durometer --pty auto --serial DUR-77 --time-scale 60
start mfi mfi --pty auto --serial MFI-88
start lfrtu loadframe --rtu auto --serial 4242
start lftcp loadframe --tcp 127.0.0.1:0 --serial 4343
for _ in $(seq 100); do
  n=0
  for s in bal baltcp dur mfi lfrtu lftcp; do grep -q "^listening" "$work/$s.out" && n=$((n + 1)); done
  [ "$n" -eq 6 ] && break
  sleep 0.05
done
addr() { sed -n 's/^listening //p' "$work/$1.out"; }
bal=$(addr bal) baltcp=$(addr baltcp) dur=$(addr dur) mfi=$(addr mfi) lftcp=$(addr lftcp)
lfrtu=$(addr lfrtu)
lfrtu=${lfrtu#rtu:}

"$PD_CLI" scan --probe "$bal" "$dur" "$mfi" "$lfrtu" "$lftcp" "$baltcp" >"$work/snippet" 2>"$work/probe.err" ||
  fail "probe failed: $(cat "$work/probe.err")"
# section NAME: the lines of the list item `- name: NAME` (up to the next item or comment line)
section() { awk -v n="  - name: $1" '$0 == n {p = 1; print; next} p && /^(  - |#)/ {p = 0} p' "$work/snippet"; }
check_section() { # name pattern description
  section "$1" | grep -q -- "$2" || fail "$3 (section $1: '$2' missing)"
}
check_section balance1 "driver: mtsics" "pty balance not identified as MT-SICS"
check_section balance1 "serial: \"SCAN-42\"" "pty balance: serial"
check_section balance1 "transport: \"$bal\"" "pty balance: transport"
check_section balance1 "baud: 9600" "pty balance: line settings"
check_section balance2 "serial: \"SCAN-43\"" "raw-TCP balance: serial"
check_section balance2 "transport: \"$baltcp\"" "raw-TCP balance: transport"
section balance2 | grep -q "baud:" && fail "raw-TCP balance: line settings printed (the device server owns them)"
check_section durometer1 "driver: serial_line" "durometer: driver"
check_section durometer1 "serial: \"DUR-77\"" "durometer: serial"
check_section durometer1 "transport: \"$dur\"" "durometer: transport"
check_section durometer1 'response: "DUR {model:word}' "durometer: library grammar"
check_section mfi1 "serial: \"MFI-88\"" "mfi: serial"
check_section mfi1 'request: "R?"' "mfi: library grammar"
check_section frame1 "transport: \"rtu:$lfrtu\"" "RTU load frame: transport"
check_section frame1 "parity: even" "RTU load frame: line settings"
check_section frame1 "name: force" "RTU load frame: library register map"
check_section frame2 "transport: \"$lftcp\"" "TCP load frame: transport"
grep -q "^# rtu:$lfrtu: .*SN 4242" "$work/snippet" || fail "RTU load frame: slave id text with serial"
grep -q "^# $lftcp: .*SN 4343" "$work/snippet" || fail "TCP load frame: slave id text with serial"
grep -Eq "^ *simulator:|program: polydaq-sim" "$work/snippet" && fail "a simulator section was copied"
[ "$(grep -c "^  - name:" "$work/snippet")" -eq 6 ] || fail "not exactly 6 sections"
# the device's identity, as each simulator answers it (its documented identity replies)
check_section balance1 'model: "XS205-LAB SIMULATED"' "pty balance: the model its I2 reports"
check_section balance2 'model: "PD-XS205 SIMULATED"' "raw-TCP balance: the model its I2 reports"
check_section frame1 'serial: "4242"' "RTU load frame: the serial its identity register holds"
check_section frame2 'model: "polydaq LF-1"' "TCP load frame: the model its report-slave-id names"
grep -q "^# $lftcp: .*firmware [0-9]" "$work/snippet" || fail "TCP load frame: firmware from its identity register"
grep -q "^# $bal: .*firmware " "$work/snippet" || fail "pty balance: firmware from I3"
# never the library's example model or demo calibration
grep -Eq "DEMO-CAL|\(simulated\)|2027-0[3-6]-" "$work/snippet" && fail "library demo identity/calibration printed: $(grep -E "DEMO-CAL|\(simulated\)" "$work/snippet" | head -2)"
[ "$(grep -c 'calibration: {date: "<YYYY-MM-DD>", due: "<YYYY-MM-DD>", certificate: "<fill in>"}' "$work/snippet")" -eq 6 ] ||
  fail "not every section has the calibration placeholders"

# the sections pasted as they are into a Shore lab config (its own instrument list dropped): refused
# while the calibration placeholders are left, naming the file, line and column of the first
{ sed -e '/^instruments:/q' -e 's/specimens: 3/specimens: 1/' -e 's/readings: 5/readings: 2/' \
    "$PD_SOURCE_DIR/config/shore.yaml"; cat "$work/snippet"; } >"$work/lab-placeholders.yaml"
"$PD_CLI" run "$work/lab-placeholders.yaml" -o "$work/refused" -q >/dev/null 2>"$work/refused.err"
[ $? -eq 2 ] || fail "run with the calibration placeholders left: exit code, expected 2"
first=$(grep -n 'calibration: {date: "<YYYY' "$work/lab-placeholders.yaml" | head -1 | cut -d: -f1)
grep -q "lab-placeholders.yaml:$first:[0-9]*: .*placeholder left by .polydaq scan.: fill in the calibration date" \
  "$work/refused.err" || fail "the refusal names the placeholder's place: $(cat "$work/refused.err")"
ls "$work/refused"/*.h5 >/dev/null 2>&1 && fail "a run file was made with placeholders"
sed -i -e 's/calibration: {date: "<YYYY-MM-DD>", due: "<YYYY-MM-DD>", certificate: "<fill in>"}/calibration: {date: 2026-02-01, due: 2027-02-01, certificate: LAB-2026-17}/' \
  "$work/lab-placeholders.yaml"
sed 's/certificate: LAB-2026-17}/certificate: "<fill in>"}/' "$work/lab-placeholders.yaml" >"$work/lab-cert.yaml"
"$PD_CLI" run "$work/lab-cert.yaml" -o "$work/refused" -q >/dev/null 2>"$work/refused.err"
[ $? -eq 2 ] || fail "run with the certificate placeholder left: exit code, expected 2"
grep -q "fill in the certificate id" "$work/refused.err" || fail "certificate placeholder: $(cat "$work/refused.err")"
# filled in by the lab, the durometer found on the pty makes the run, the others are acquired beside it
cp "$work/lab-placeholders.yaml" "$work/lab.yaml"
if "$PD_CLI" run "$work/lab.yaml" -o "$work/runs" -q >"$work/run.out" 2>"$work/run.err"; then
  /usr/bin/python3 - "$(tail -1 "$work/run.out")" <<'PYEOF' || fail "run with the pasted sections: serial numbers, simulated"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert int(f["/"].attrs["specimens_tested"]) == 1
def serial(name):
    g = f["specimen_01/instrument/" + name]
    v = g["serial_number"][()] if "serial_number" in g else g.attrs.get("serial_number")
    return v.decode() if isinstance(v, bytes) else str(v)
want = {"balance1": "SCAN-42", "balance2": "SCAN-43", "durometer1": "DUR-77", "mfi1": "MFI-88",
        "frame1": "4242", "frame2": "4343"}
got = {k: serial(k) for k in want}
assert got == want, got
def field(name, key):
    g = f["specimen_01/instrument/" + name]
    v = g[key][()] if key in g else g.attrs.get(key)
    return v.decode() if isinstance(v, bytes) else str(v)
cert = {k: field(k, "calibration_certificate") for k in want}
assert cert == {k: "LAB-2026-17" for k in want}, cert
# simulated though no section has a simulator: the root, each instrument, each sample's quality bit
assert int(f["/"].attrs["simulated"]) == 1, "root simulated = %r" % f["/"].attrs["simulated"]
sim = {k: int(f["specimen_01/instrument/" + k].attrs["simulated"]) for k in want}
assert sim == {k: 1 for k in want}, "per-instrument simulated: %r" % sim
PD_Q_SIMULATED = 4
sizes = {}
for k in want:
    q = f["specimen_01/" + k + "/quality"][...]
    sizes[k] = q.size
    assert all(int(v) & PD_Q_SIMULATED for v in q), k + ": a sample without the simulated bit"
assert sizes["durometer1"] >= 2, sizes
PYEOF
else
  fail "polydaq run refused the pasted sections"; cat "$work/run.err" >&2
fi

# a library whose only load frame expects another slave id: the frame is found but not matched,
# so it gets the generic section (with the slave id text), never the wrong map
mkdir "$work/lib"
sed 's/slave_id: "polydaq LF-1"/slave_id: "polydaq XX-9"/' "$PD_SOURCE_DIR/config/instruments/loadframe.yaml" \
  >"$work/lib/loadframe.yaml"
"$PD_CLI" scan --probe "$lftcp" --library "$work/lib" >"$work/generic" 2>"$work/generic.err" ||
  fail "probe with another library failed: $(cat "$work/generic.err")"
grep -q "not in the library" "$work/generic" || fail "wrong slave id: not reported as unknown"
grep -q "name: modbus1" "$work/generic" || fail "wrong slave id: no generic section"
grep -q "name: force" "$work/generic" && fail "wrong slave id: the library map was used"
# a library file that is no valid instrument section is skipped with a message naming it
printf 'name: broken\ndriver: serial_line\ntransport: /dev/null\npoll: {response: "{x"}\nchannels: []\n' \
  >"$work/lib/broken.yaml"
"$PD_CLI" scan --probe "$lftcp" --library "$work/lib" >/dev/null 2>"$work/broken.err" || fail "a broken library file stopped scan"
grep -q "broken.yaml.*skipped" "$work/broken.err" || fail "broken library file: no message $(cat "$work/broken.err")"
"$PD_CLI" scan --probe "$lftcp" --library "$work/nonexistent" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--library of a missing directory: exit code"
# the durometer is no MT-SICS balance and not in that library: reported, exit 3
"$PD_CLI" scan --probe "$dur" --library "$work/lib" >"$work/unk" 2>"$work/unk.err"
[ $? -eq 3 ] || fail "unknown text instrument: exit code"
grep -q "answered 'ERR 1'" "$work/unk.err" || fail "unknown text instrument: message $(cat "$work/unk.err")"

# nothing there
"$PD_CLI" scan --probe tcp-raw://127.0.0.1:1 --timeout 50 >"$work/none" 2>"$work/none.err"
[ $? -eq 3 ] || fail "probe of a dead address: exit code"
grep -q "no answer" "$work/none.err" || fail "probe of a dead address: message"

[ "$fails" -eq 0 ] && echo "serial_scan_test: all passed"
exit $((fails > 0))
