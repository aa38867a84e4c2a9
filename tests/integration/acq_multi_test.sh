#!/usr/bin/env bash
# acq_multi_test.sh — the acquisition engine on two simulated instruments at different rates (a
# load frame at 500 Hz, a second one read at 5 Hz): every sample accounted for (acquired = written +
# recorded overruns, checked from the file alone with h5py), timestamps and sequence numbers
# strictly increasing; then a forced writer stall (test hooks POLYDAQ_TEST_RING_CAPACITY and
# POLYDAQ_TEST_WRITER_STALL_MS) must give a recorded overrun, not a crash or a silent gap.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
CHECK="$PD_SOURCE_DIR/tests/integration/acq_check.py"
cfg="$PD_SOURCE_DIR/tests/integration/data/acq-multi.yaml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# --- two instruments, two rates ----------------------------------------------------------------
"$PD_CLI" run "$cfg" -o "$work/a" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "multi-instrument run exit $rc"; cat "$work/err" >&2; }
run_file=$(head -n1 "$work/out")
grep -q "2/2 specimens tested" "$work/err" || fail "summary line: $(tail -n1 "$work/err")"
"$PY" "$CHECK" accounting "$run_file" --plain --clean 1 || fail "accounting of the multi-instrument run"
"$PY" - "$run_file" <<'PY' || fail "each instrument at its own rate"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
for name, rate in (("frame1", 500.0), ("slow", 5.0)):
    assert f["acquisition"][name].attrs["poll_rate_hz"] == rate
    assert f["specimen_01/instrument"][name].attrs["poll_rate_hz"] == rate
    t = np.concatenate([f["specimen_%02d" % k][name]["time"][:] for k in (1, 2)])
    dt = np.median(np.diff(t)) / 1e9
    assert abs(dt - 1 / rate) < 0.2 / rate, "%s: median interval %.4f s, expected %.4f" % (name, dt, 1 / rate)
    assert np.all(f["specimen_01"][name]["time_uncertainty"][:] > 0), "timing uncertainty recorded"
print("rates ok")
PY
"$PD_CLI" inspect "$run_file" >"$work/inspect" 2>&1 || fail "inspect exit"
grep -q "overruns: 0 recorded" "$work/inspect" || fail "inspect reports no overruns"
grep -Eq "instrument slow: poll_rate_hz 5 samples_acquired [0-9]+" "$work/inspect" || fail "inspect shows counters"

# --- a writer stall overflows a small ring: recorded, not hidden ---------------------------------
POLYDAQ_TEST_RING_CAPACITY=64 POLYDAQ_TEST_WRITER_STALL_MS=800 \
  "$PD_CLI" run "$cfg" -o "$work/b" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "stalled run exit $rc"; cat "$work/err" >&2; }
run_file=$(head -n1 "$work/out")
grep -Eq "[1-9][0-9]* lost \(recorded\)" "$work/err" || fail "summary reports the loss: $(tail -n1 "$work/err")"
"$PY" "$CHECK" accounting "$run_file" --plain --clean 1 --expect-overrun frame1 || fail "accounting with an overrun"
"$PY" "$CHECK" events "$run_file" overrun || fail "overrun event"
"$PD_CLI" inspect "$run_file" >"$work/inspect" 2>&1 || fail "inspect exit"
grep -Eq "^overrun frame1 specimen [12]: [0-9]+ samples lost" "$work/inspect" || fail "inspect lists the overrun"
grep -q "samples missing from the sequence" "$work/inspect" || fail "inspect shows the gap in the sequence"

# --- export ---------------------------------------------------------------------------------------
"$PD_CLI" export "$run_file" --format csv --specimen 2 -o "$work/s2.csv" || fail "export csv"
"$PD_CLI" export "$run_file" --format json --instrument slow >"$work/all.json" || fail "export json"
"$PY" - "$run_file" "$work/s2.csv" "$work/all.json" <<'PY' || fail "exports match the file"
import csv, json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
rows = list(csv.DictReader(open(sys.argv[2])))
g = f["specimen_02/frame1"]
assert len(rows) == len(g["time"]) and len(rows) > 0
assert [int(r["time_ns"]) for r in rows] == list(g["time"][:])
assert np.array_equal(np.array([float(r["force [N]"]) for r in rows]), g["force"][:])
assert rows[0]["time_utc"].endswith("Z") and {r["specimen"] for r in rows} == {"2"}
j = json.load(open(sys.argv[3]))
assert j["closed_cleanly"] is True and len(j["specimens"]) == 2
inst = j["specimens"][0]["instruments"]
assert [i["name"] for i in inst] == ["slow"]
assert inst[0]["time_ns"] == list(f["specimen_01/slow/time"][:])
assert inst[0]["channels"]["force"] == list(f["specimen_01/slow/force"][:])
assert inst[0]["units"]["force"] == "N"
assert sum(o["count"] for o in j["overruns"]) == int(f.attrs["samples_lost"])
print("exports ok")
PY
"$PD_CLI" export "$run_file" --format xml >/dev/null 2>&1; [ $? -eq 2 ] || fail "export --format xml exits 2"
"$PD_CLI" export "$run_file" --format csv --specimen 9 >/dev/null 2>&1; [ $? -eq 2 ] || fail "export --specimen 9 exits 2"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "acq_multi_test: all checks passed"
