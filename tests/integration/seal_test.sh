#!/usr/bin/env bash
# seal_test.sh — sealed raw files end to end (docs/CERTIFICATES.md §6): a lab config's station key
# (refused at start when missing or readable by others, before any instrument is touched) seals the
# run file at its close; hashlib, openssl and h5py check the seal independently; certify accredits
# a calibrated, non-simulated, sealed run only under a trusted station key (--station-key, or one
# registered in the lab folder's registry and not disabled), and every attack on the
# raw file or its seal takes the accreditation away with its reason printed: the `simulated` flag
# flipped with h5py, a byte changed anywhere, the seal re-signed with another key, the seal edited,
# duplicate keys in it, no seal, an imported (`polydaq import`) or recovered file (even with a valid
# seal), a stale seal beside a recovered file of the same name. Last, `polydaq demo` seals its run
# with the station key it makes and trusts.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
PY=/usr/bin/python3
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py/numpy"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: no openssl CLI"; exit 77; }
SEAL="$PY $PD_SOURCE_DIR/tests/integration/seal_check.py"
spec="$PD_SOURCE_DIR/config/specs/pp-demo.yaml"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, pids, fail, expect_exit; cleanup on exit

# Station keys: keys/station-bench.key/.pub and keys/station-other.key/.pub.
"$PD_CLI" keygen --station bench -o "$work/keys" >/dev/null 2>&1 || fail "keygen --station bench"
"$PD_CLI" keygen --station other -o "$work/keys" >/dev/null 2>&1 || fail "keygen --station other"

# --- the lab: the integration load frame as a connected instrument (no simulator section: not
# marked simulated), calibrated, 3 specimens, with a station --------------------------------------
"$PD_SIM" loadframe --tcp 127.0.0.1:0 --material pp-demo --seed 7 --time-scale 50 >"$work/sim.out" 2>"$work/sim.err" &
pids+=($!)
port=
for _ in $(seq 100); do
  port=$(sed -n 's|^listening tcp://127.0.0.1:\([0-9]*\).*|\1|p' "$work/sim.out")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { fail "the simulator did not announce its port"; exit 1; }
sed -e "s|tcp://127.0.0.1:0|tcp://127.0.0.1:$port|" -e '/^    simulator:/,/^      args:/d' \
    -e 's/specimens: 5/specimens: 3/' "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" >"$work/lab.yaml"
grep -q "simulator" "$work/lab.yaml" && fail "the test config still has a simulator section"
cat >>"$work/lab.yaml" <<'YAML'

station:
  name: bench
  key: keys/station-bench.key
YAML
station_line=$(grep -n "  key: keys/station-bench.key" "$work/lab.yaml" | cut -d: -f1)

# --- the key is checked at start, before any instrument is touched -------------------------------
chmod 640 "$work/keys/station-bench.key"
expect_exit 2 "group-readable station key" "$PD_CLI" run "$work/lab.yaml" -o "$work/refused"
grep -q "lab.yaml:$station_line:8: station.key: .*permissions 0640 are too open" "$work/err" ||
  fail "the refusal names lab.yaml:$station_line:8 and the mode: $(cat "$work/err")"
chmod 600 "$work/keys/station-bench.key"
sed 's|keys/station-bench.key|keys/missing.key|' "$work/lab.yaml" >"$work/missing.yaml"
expect_exit 2 "missing station key" "$PD_CLI" run "$work/missing.yaml" -o "$work/refused"
grep -q "missing.yaml:$station_line:8: .*missing.key" "$work/err" || fail "missing key named: $(cat "$work/err")"
cp "$work/keys/station-bench.pub" "$work/keys/pub-as-secret.key"
chmod 600 "$work/keys/pub-as-secret.key"
sed 's|keys/station-bench.key|keys/pub-as-secret.key|' "$work/lab.yaml" >"$work/notsecret.yaml"
expect_exit 2 "a public key as the station key" "$PD_CLI" run "$work/notsecret.yaml" -o "$work/refused"
grep -q "not a polydaq secret key" "$work/err" || fail "a public key refused as such: $(cat "$work/err")"
[ -e "$work/refused" ] && fail "a refused start created the output folder"
# an instrument nobody answers for: the key's refusal comes first, so nothing was touched
closed=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s|tcp://127.0.0.1:$port|tcp://127.0.0.1:$closed|" "$work/missing.yaml" >"$work/missing-closed.yaml"
expect_exit 2 "missing key, no instrument" "$PD_CLI" run "$work/missing-closed.yaml" -o "$work/refused"
grep -q "missing.key" "$work/err" || fail "the key is checked before the instrument: $(cat "$work/err")"
sed '/^station:/,$d' "$work/lab.yaml" >"$work/nostation.yaml"
expect_exit 2 "station without a key" "$PD_CLI" run <(cat "$work/nostation.yaml"; printf '\nstation: {name: bench}\n') -o "$work/refused"
grep -q "'key'" "$work/err" || fail "station.key required: $(cat "$work/err")"

# --- a sealed run, checked independently ----------------------------------------------------------
expect_exit 0 "sealed run" "$PD_CLI" run "$work/lab.yaml" -o "$work/runs" -q
run=$(head -n1 "$work/out")
[ -f "$run.seal" ] || fail "no seal beside $run"
grep -q "sealed by station 'bench' (1 file(s)): $run.seal" "$work/err" || fail "the run says it sealed: $(cat "$work/err")"
$SEAL verify "$run" "$work/keys/station-bench.pub" || fail "independent check of the seal"
[ $((0$(stat -c %a "$run.seal") & 022)) -eq 0 ] || fail "seal writable by group or others: $(stat -c %a "$run.seal")"
ls "$work/runs" | grep -q tmp && fail "a temporary file was left: $(ls "$work/runs")"

certify() { # description, expected exit ("any": 0 or 1, a verdict), run file, extra options... → $work/cert.json
  local what=$1 want=$2 file=$3; shift 3
  rm -rf "$work/certs"
  if [ "$want" = any ]; then
    "$PD_CLI" certify "$file" --spec "$spec" -o "$work/certs" "$@" >"$work/out" 2>"$work/err"
    [ $? -le 1 ] || { fail "$what: certify refused it"; cat "$work/err" >&2; }
  else
    expect_exit "$want" "$what" "$PD_CLI" certify "$file" --spec "$spec" -o "$work/certs" "$@"
  fi
  cp "$work/certs/CERT-000001.json" "$work/cert.json" 2>/dev/null || fail "$what: no certificate"
}
accredited() { "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["accreditation"]["accredited"] is True else 1)' "$work/cert.json"; }
reason() { # description, text expected in a reason on the certificate and in certify's output
  "$PY" - "$work/cert.json" "$2" <<'PY' || fail "$1: reason '$2' not on the certificate"
import json, sys
acc = json.load(open(sys.argv[1]))["accreditation"]
assert acc["accredited"] is False and acc["statement"].startswith("NOT ACCREDITED"), acc
assert any(sys.argv[2] in r for r in acc["reasons"]), acc["reasons"]
PY
  grep -qF "$2" "$work/err" || fail "$1: certify does not print '$2': $(cat "$work/err")"
}

certify "trusted station" 0 "$run" --station-key "$work/keys/station-bench.pub"
accredited || fail "a calibrated, sealed run under a trusted station key is accredited: $(grep -A8 '"accreditation"' "$work/cert.json")"
"$PY" - "$work/cert.json" "$run" "$work/keys/station-bench.pub" <<'PY' || fail "the certificate records the seal"
import json, sys
c = json.load(open(sys.argv[1]))
seal = json.load(open(sys.argv[2] + ".seal"))
rec = c["runs"][0]["seal"]
assert rec["station"] == "bench" and rec["key_trusted"] is True, rec
assert rec["signature"] == seal["signature"] and rec["key_id"] == seal["station"]["key_id"], rec
assert rec["public_key"] == open(sys.argv[3]).read().split()[1], rec
PY
certify "two station keys, the right one second" 0 "$run" --station-key "$work/keys/station-other.pub" \
  --station-key "$work/keys/station-bench.pub"
accredited || fail "any trusted station key will do"
certify "no trusted station key" 0 "$run"
reason "no station key" "sealed by an untrusted station key"
certify "another station's key" 0 "$run" --station-key "$work/keys/station-other.pub"
reason "other key" "sealed by an untrusted station key"
expect_exit 2 "a secret key as --station-key" "$PD_CLI" certify "$run" --spec "$spec" -o "$work/x" \
  --station-key "$work/keys/station-bench.key"
# the station registered in the lab folder's registry is trusted without --station-key; disabled, no more
regd="$work/registry-lab"
expect_exit 0 "keygen lab" "$PD_CLI" keygen -o "$work/labkey"
expect_exit 0 "registry init" "$PD_CLI" registry init "$regd" --lab-key "$work/labkey/lab.pub"
expect_exit 0 "registry station add" "$PD_CLI" registry station add -o "$regd" --key "$work/keys/station-bench.pub" --name bench
expect_exit 0 "certify with a station of the registry" "$PD_CLI" certify "$run" --spec "$spec" -o "$regd"
cp "$regd/CERT-000001.json" "$work/cert.json"
accredited || fail "a sealed run of a registered station is accredited without --station-key"
[ "$(sqlite3 "$regd/registry.sqlite" "SELECT count(*) FROM seals")" = 1 ] || fail "the registry records the run's seal"
expect_exit 0 "registry station disable" "$PD_CLI" registry station disable bench -o "$regd"
expect_exit 0 "certify with a disabled station" "$PD_CLI" certify "$run" --spec "$spec" -o "$regd"
cp "$regd/CERT-000002.json" "$work/cert.json"
accredited && fail "a disabled station's seal is not trusted"
grep -qF "sealed by an untrusted station key" "$work/err" || fail "certify says the station is not trusted: $(cat "$work/err")"
# recompute reproduces the gate's decision (the station trusted then) byte for byte
certify "trusted station again" 0 "$run" --station-key "$work/keys/station-bench.pub"
expect_exit 0 "recompute of the accredited certificate" "$PD_CLI" certify --recompute "$work/cert.json" --data "$run"
mkdir -p "$work/noseal" && cp "$run" "$work/noseal/"
expect_exit 1 "recompute from the raw file without its seal" "$PD_CLI" certify --recompute "$work/cert.json" \
  --data "$work/noseal/${run##*/}"
grep -q "DIFF: accreditation.accredited" "$work/out" || fail "recompute names the lost accreditation: $(cat "$work/out")"
grep -q "DIFF: runs\[0\].seal" "$work/out" || fail "recompute names the missing seal: $(cat "$work/out")"

# a certificate made before seals were checked (no runs[].seal; stood for here by today's of the
# run without its seal, with what the seal check added taken out) recomputes identically, noted
certify "for an old-style certificate" 0 "$work/noseal/${run##*/}" --station-key "$work/keys/station-bench.pub"
"$PY" - "$work/cert.json" "$work/old.json" <<'PY' || fail "making the old-style certificate"
import json, sys
c = json.load(open(sys.argv[1]))
for r in c["runs"]:
    del r["seal"]
acc = c["accreditation"]
acc["reasons"] = [x for x in acc["reasons"] if not x.startswith("run file not sealed")]
assert acc["reasons"] == [], acc["reasons"]
acc["accredited"] = True
acc["statement"] = "Results covered by the laboratory's accreditation."
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
expect_exit 0 "recompute of a certificate from before seals" "$PD_CLI" certify --recompute "$work/old.json" \
  --data "$work/noseal/${run##*/}"
grep -q "note: certified before run-file seals were checked" "$work/out" || fail "recompute notes the old gate: $(cat "$work/out")"

trust=(--station-key "$work/keys/station-bench.pub")
copy() { # name → a copy of the sealed run and its seal
  cp "$run" "$work/$1.h5" && cp "$run.seal" "$work/$1.h5.seal"
}

# --- a recording seals each file as it closes (at every rollover and at its end) ----------------
cp "$PD_SOURCE_DIR/tests/integration/data/record-3day.yaml" "$work/record.yaml"
printf '\nstation: {name: bench, key: keys/station-bench.key}\n' >>"$work/record.yaml"
expect_exit 0 "sealed recording" "$PD_CLI" run "$work/record.yaml" -o "$work/rec" -q
mapfile -t recfiles < <(ls "$work/rec"/run-*.h5 | sort)
[ "${#recfiles[@]}" -eq 3 ] || fail "the recording made ${#recfiles[@]} files, expected 3"
for f in "${recfiles[@]}"; do
  $SEAL verify "$f" "$work/keys/station-bench.pub" || fail "the seal of recording file $f"
done
grep -q "sealed by station 'bench' (3 file(s))" "$work/err" || fail "the recording says it sealed 3 files: $(cat "$work/err")"

# --- the simulated flag flipped with h5py on a simulated, sealed run ------------------------------
sed -e '/^station:/,$d' -e 's/specimens: 5/specimens: 2/' "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" >"$work/sim.yaml"
printf '\nstation: {name: "Prüfstand 2", key: keys/station-bench.key}\n' >>"$work/sim.yaml" # non-ASCII: §7's escapes
expect_exit 0 "simulated sealed run" "$PD_CLI" run "$work/sim.yaml" -o "$work/simruns" -q
simrun=$(head -n1 "$work/out")
$SEAL verify "$simrun" "$work/keys/station-bench.pub" || fail "the simulated run's seal"
certify "simulated run" 0 "$simrun" "${trust[@]}"
reason "simulated" "simulated"
"$PY" - "$simrun" <<'PY' || fail "flipping simulated with h5py"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["simulated"] = 0
    def unmark(name, obj):
        if "simulated" in obj.attrs:
            obj.attrs["simulated"] = 0
    f.visititems(unmark)
PY
certify "simulated flipped" 0 "$simrun" "${trust[@]}"
reason "simulated flipped" "run file changed after sealing: sha256"
"$PY" -c 'import json,sys; a=json.load(open(sys.argv[1]))["accreditation"]["reasons"]; sys.exit(any("simulated" in r for r in a))' "$work/cert.json" ||
  fail "the flipped file claims no simulation; only the seal catches it"
# ... and the seal edited to match: the signature fails
cp "$simrun" "$work/flip2.h5"
"$PY" - "$simrun.seal" "$work/flip2.h5" <<'PY'
import json, hashlib, os, sys
seal = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
seal.update(simulated=False, sha256=hashlib.sha256(data).hexdigest(), size=len(data), file="flip2.h5")
json.dump(seal, open(sys.argv[2] + ".seal", "w"))
PY
certify "seal edited to the flipped file (old signature)" 0 "$work/flip2.h5" "${trust[@]}"
reason "seal edited" "seal does not verify"

# --- the flipped file re-sealed with another station's key: a valid signature, untrusted ---------
$SEAL sign "$work/flip2.h5" "$work/keys/station-other.key" sha256=now || fail "forging a seal with openssl"
certify "re-signed by another key" 0 "$work/flip2.h5" "${trust[@]}"
reason "re-signed" "sealed by an untrusted station key"

# --- one byte changed anywhere: never accredited (changed after sealing, or refused as damaged) ---
size=$(stat -c %s "$run")
read_anyway=0
for at in 0 100 $((size / 3)) $((size / 2)) $((size * 9 / 10)) $((size - 1)); do
  copy "byte$at"
  "$PY" -c 'import sys; p, at = sys.argv[1], int(sys.argv[2]); f = open(p, "r+b"); f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x10]))' "$work/byte$at.h5" "$at"
  rm -rf "$work/certs"
  "$PD_CLI" certify "$work/byte$at.h5" --spec "$spec" -o "$work/certs" "${trust[@]}" >"$work/out" 2>"$work/err"
  rc=$?
  if [ -f "$work/certs/CERT-000001.json" ]; then # still readable: the seal check must catch it
    read_anyway=$((read_anyway + 1))
    cp "$work/certs/CERT-000001.json" "$work/cert.json"
    reason "byte $at changed" "run file changed after sealing"
  elif [ "$rc" -eq 0 ]; then # refused as damaged (exit 2; a sanitizer build may add its own status)
    fail "byte $at changed: exit 0 without a certificate"
  fi
done
[ "$read_anyway" -ge 2 ] || fail "only $read_anyway of the changed files were still readable: the seal check was hardly exercised"

# --- the seal itself edited, duplicated keys, missing --------------------------------------------
copy edited
sed -i 's/"run_id":"\([^"]*\)"/"run_id":"\1X"/' "$work/edited.h5.seal"
certify "run id edited in the seal" 0 "$work/edited.h5" "${trust[@]}"
reason "run id edited" "seal does not verify"
copy edsim
sed -i 's/"simulated":false/"simulated":true/' "$work/edsim.h5.seal"
certify "simulated edited in the seal" 0 "$work/edsim.h5" "${trust[@]}"
reason "simulated edited" "seal does not verify"
copy dup
sed -i 's/"simulated":false/"simulated":true,"simulated":false/' "$work/dup.h5.seal"
certify "duplicate key in the seal" 0 "$work/dup.h5" "${trust[@]}"
reason "duplicate key" "duplicate"
copy unsealed
rm "$work/unsealed.h5.seal"
certify "no seal" 0 "$work/unsealed.h5" "${trust[@]}"
reason "no seal" "run file not sealed"

# --- imported and recovered files: never accredited, even under a valid trusted seal -------------
copy imported
"$PY" -c 'import sys, h5py; h5py.File(sys.argv[1], "r+").attrs["imported"] = 1' "$work/imported.h5"
rm "$work/imported.h5.seal"
$SEAL sign "$work/imported.h5" "$work/keys/station-bench.key" || fail "sealing the imported file with the station key"
certify "imported, validly sealed" 0 "$work/imported.h5" "${trust[@]}"
reason "imported" "imported data"
"$PY" -c 'import json,sys; a=json.load(open(sys.argv[1]))["accreditation"]["reasons"]; sys.exit(len(a) != 1)' "$work/cert.json" ||
  fail "the imported file's only reason is that it is imported"

# a real `polydaq import` of the sealed run's own first specimen (as a CSV, calibrated in the map):
# not sealed by import, and not accredited even once a trusted station key has sealed it
"$PY" - "$run" "$work/export.csv" <<'PY' || fail "writing the CSV export"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["specimen_01/frame1"]
t = (g["time"][:] - g["time"][0]) / 1e6
np.savetxt(sys.argv[2], np.column_stack([t, g["force"][:], g["extension"][:]]), delimiter=",",
           header="time,force,extension\nms,N,mm", comments="", fmt="%.17g")
PY
cat >"$work/map.yaml" <<'YAML'
format: {separator: ',', decimal: '.', skip_lines: 2}
columns:
  - {quantity: time, unit: ms}
  - {quantity: force, unit: N}
  - {quantity: extension, unit: mm}
specimen: {width: 10, thickness: 4, gauge_length: 75, grip_distance: 115}
instrument:
  name: frame1
  model: polydaq load-frame bridge LF-1
  serial_number: '1'
  calibration: {date: 2026-06-01, due: 2027-06-01, certificate: TEST-CAL-1}
run: {operator: ctest, date: 2026-12-01T09:00:00}
YAML
expect_exit 0 "import" "$PD_CLI" import "$work/export.csv" --format csv --map "$work/map.yaml" -o "$work/imp" --run-id imp1
[ -e "$work/imp/imp1.h5.seal" ] && fail "import sealed its output"
certify "imported" any "$work/imp/imp1.h5" "${trust[@]}"
reason "imported" "imported data"
reason "imported, unsealed" "run file not sealed"
$SEAL sign "$work/imp/imp1.h5" "$work/keys/station-bench.key" || fail "sealing the import with the station key"
certify "imported, validly sealed" any "$work/imp/imp1.h5" "${trust[@]}"
reason "imported, sealed" "imported data"
"$PY" -c 'import json,sys; a=json.load(open(sys.argv[1]))["accreditation"]["reasons"]; sys.exit(len(a) != 1)' "$work/cert.json" ||
  fail "a validly sealed, calibrated import's one reason is that it is imported: $(grep -A6 '"reasons"' "$work/cert.json")"

# a run killed mid-way and recovered: never sealed (it never closed), and a stale seal of another
# file put beside it under its name is caught by the SHA-256
sed 's/--time-scale, "50"/--time-scale, "5"/' "$work/sim.yaml" | sed 's/specimens: 2/specimens: 3/' >"$work/slow.yaml"
# (first, stopped by Ctrl-C: closed cleanly, so sealed, the seal stating the outcome)
"$PD_CLI" run "$work/slow.yaml" -o "$work/stopped" -q >/dev/null 2>&1 &
run_pid=$!
stopped=$(wait_for_run_file "$work/stopped") || fail "no run file for the stopped run"
"$PY" "$PD_SOURCE_DIR/tests/integration/acq_check.py" grows "$stopped" specimen_01/frame1/time 10 || fail "the stopped run writes"
kill -INT "$run_pid"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 130 ] || fail "Ctrl-C: exit $rc, expected 130"
$SEAL verify "$stopped" "$work/keys/station-bench.pub" || fail "the interrupted run's seal"
grep -q '"outcome": *"interrupted"' "$stopped.seal" || fail "the seal states the outcome: $(cat "$stopped.seal")"
"$PD_CLI" run "$work/slow.yaml" -o "$work/crash" -q >/dev/null 2>&1 &
run_pid=$!
crashed=$(wait_for_run_file "$work/crash") || fail "no run file for the crash"
"$PY" "$PD_SOURCE_DIR/tests/integration/acq_check.py" grows "$crashed" specimen_01/frame1/time 10 ||
  fail "the crash run writes"
sleep 1.5 # one flush interval
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
run_pid=
[ -e "$crashed.seal" ] && fail "a killed run's file was sealed"
expect_exit 0 "recover" "$PD_CLI" recover "$crashed"
[ -e "$crashed.seal" ] && fail "recover sealed its output"
certify "recovered" any "$crashed" "${trust[@]}"
reason "recovered" "recovered file"
reason "recovered, unsealed" "run file not sealed"
cp "$simrun.seal" "$crashed.seal"
certify "recovered with a stale seal" any "$crashed" "${trust[@]}"
reason "stale seal" "run file changed after sealing"
reason "stale seal, recovered" "recovered file"

# --- the demo: its own station key seals its run; only the simulation stands in the way ----------
# (its own exit status is the verification's: whatever else it reports, the seal part is checked)
"$PD_CLI" demo -o "$work/demo" -q >"$work/out" 2>"$work/err"
[ $? -le 1 ] || { fail "demo failed"; cat "$work/err" >&2; }
demo_run=$(sed -n 's/^HDF5 run file: //p' "$work/out")
grep -q "^seal: *$demo_run.seal$" "$work/out" || fail "the demo prints its seal: $(cat "$work/out")"
grep -q "verify: note: run file ${demo_run##*/} sealed by station 'demo station' (key [0-9a-f]\{16\}), a key certify trusted" "$work/out" ||
  fail "verify shows the seal the certificate records: $(grep verify: "$work/out")"
[ "$(stat -c %a "$work/demo/keys/station-demo.key")" = 600 ] || fail "the demo's station key is not 0600"
$SEAL verify "$demo_run" "$work/demo/keys/station-demo.pub" || fail "the demo's seal"
"$PY" - "$work/demo/CERT-000001.json" <<'PY' || fail "the demo certificate: trusted seal, simulated only"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["runs"][0]["seal"]["key_trusted"] is True, c["runs"][0]["seal"]
reasons = c["accreditation"]["reasons"]
assert reasons and all("simulated" in r for r in reasons), reasons
PY

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "seal_test: all checks passed"
