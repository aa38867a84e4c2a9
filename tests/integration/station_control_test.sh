#!/usr/bin/env bash
# station_control_test.sh — a run driven only over its control socket (docs/STATION.md): the
# 3-specimen ISO 527 series of station_control.py (two clients, bad commands, a second run on the
# same instrument refused, the caliper, clients and parent killed mid-specimen, specimen 2 marked
# invalid, a note), then `polydaq certify` of its file: each specimen's own dimensions (checked
# against numpy's Fmax / (b × h) from the file's force) and specimen 2 excluded with its reason.
# Then a station run killed -9 mid-specimen leaves a file `polydaq recover` repairs; last, on the
# freed instrument, a run whose first specimen a client stops (tested, evaluated) and whose second
# it aborts (machine stopped, specimen invalid "aborted by", series ends, file sealed as always),
# while a client that never reads is dropped; and a run whose frame's simulator is killed
# mid-specimen: the machine shows "disconnected", then the run fails (end outcome failed, exit 3).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit; cleanup on exit
PY=/usr/bin/python3
"$PY" -c 'import numpy, h5py' 2>/dev/null || { echo "station_control_test: no numpy/h5py for $PY: skipped"; exit 77; }
export PYTHONPATH="$PD_SOURCE_DIR/tests/integration"

# the fast test lab with three specimens and the simulated caliper, its display from a file
sed -e 's/specimens: 5/specimens: 3/' -e 's/^specimen:/specimen:\n  dimensions: prompt\n  caliper: caliper1/' \
  "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" >"$work/lab.yaml"
sed -n '/^name:/,$p' "$PD_SOURCE_DIR/config/instruments/caliper.yaml" |
  sed -e '1s/^/  - /' -e '2,$s/^/    /' -e "s|args: \[caliper, --value, \"10.000\"\]|args: [caliper, --control, \"$work/display\"]|" \
  >>"$work/lab.yaml"
grep -q -- "--control" "$work/lab.yaml" || fail "lab: the caliper's control file set"
mkdir -m 700 "$work/stations"

# --- usage ----------------------------------------------------------------------------------------
expect_exit 2 "--control with --dimensions" "$PD_CLI" run "$work/lab.yaml" -o "$work/u" --control "$work/stations/u.sock" --dimensions x.csv
expect_exit 2 "--control-user without --control" "$PD_CLI" run "$work/lab.yaml" -o "$work/u" --control-user anna
expect_exit 2 "--control for an MFR run" "$PD_CLI" run "$PD_SOURCE_DIR/config/mfr.yaml" -o "$work/u" --control "$work/stations/u.sock"
grep -q "method iso1133 cannot be driven from a station" "$work/err" || fail "MFR refused: $(cat "$work/err")"
[ -e "$work/stations/u.sock" ] && fail "a refused run left its socket"
expect_exit 2 "a socket path too long" "$PD_CLI" run "$work/lab.yaml" -o "$work/u" --control "$work/stations/$(printf 's%.0s' $(seq 120)).sock"
grep -q "control socket's path is longer than 107 bytes" "$work/err" || fail "long socket path: $(cat "$work/err")"
: >"$work/stations/file.sock"
expect_exit 2 "a socket path that is a file" "$PD_CLI" run "$work/lab.yaml" -o "$work/u" --control "$work/stations/file.sock"
grep -q "exists and is not a socket" "$work/err" && [ -f "$work/stations/file.sock" ] || fail "a file in the socket's place: $(cat "$work/err")"
expect_exit 2 "a socket in a missing folder" "$PD_CLI" run "$work/lab.yaml" -o "$work/u" --control "$work/none/u.sock"
grep -q "cannot bind the control socket" "$work/err" || fail "missing folder: $(cat "$work/err")"
[ -e "$work/u" ] && fail "a refused station run created its output folder"

# --- the series over the socket ---------------------------------------------------------------------
"$PY" "$PD_SOURCE_DIR/tests/integration/station_control.py" "$PD_CLI" "$work/lab.yaml" "$work/runs" \
  "$work/stations/run1.sock" "$work/display" >"$work/series.out" || { fail "the series over the socket"; cat "$work/runs-run.log" >&2; }
run=$(tail -n1 "$work/series.out")
[ -f "$run" ] || fail "no run file ($run)"
grep -q "outcome completed" "$work/runs-run.log" || fail "run log: $(tail -n3 "$work/runs-run.log")"
# (under ASan/UBSan the detached run's report would only be in its log)
grep -E "Sanitizer|runtime error" "$work/runs-run.log" && fail "sanitizer report in the station run's log"

# (exit 1 is a certificate whose decision is "fail": the simulated material may miss the demo spec)
"$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$work/certs" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || { fail "certify: exit $rc"; cat "$work/err" >&2; }
cert=$(head -n1 "$work/out")
"$PY" - "$run" "$cert" <<'PYEOF' || fail "the station's file and its certificate"
import h5py, json, sys, numpy as np
run, cert = sys.argv[1:3]
f = h5py.File(run, "r")
c = json.load(open(cert))
want = {1: (9.90, 4.05, "typed by anna"), 2: (10.05, 3.98, "caliper caliper1"), 3: (10.10, 3.96, "typed by carla")}
spec = {s["id"][-3:]: s for s in c["specimens"]}
bad = 0
def check(cond, what):
    global bad
    if not cond:
        print("FAIL:", what); bad += 1
check(f.attrs["operator"].decode() if isinstance(f.attrs["operator"], bytes) else f.attrs["operator"] == "lab admin",
      "the run's operator is the --control-user")
for k, (b, h, src) in want.items():
    g = f["specimen_%02d" % k]
    s = g["sample"]
    check(abs(s["width"][()] - b) < 1e-12 and abs(s["thickness"][()] - h) < 1e-12,
          "specimen %d: b, h in the file %r %r" % (k, s["width"][()], s["thickness"][()]))
    check(s["width_source"][()].decode().startswith(src), "specimen %d: width_source %r" % (k, s["width_source"][()]))
    ev = [(e["kind"].decode(), e["text"].decode()) for e in g["events"][()]]
    check(any(kd == "specimen_start" and t.startswith("start by ") for kd, t in ev), "specimen %d: start by" % k)
    check(any(kd == "dims" and "(by " in t or kd == "dims" and "caliper1" in t for kd, t in ev), "specimen %d: dims event" % k)
    sp = spec["S%02d" % k]
    if k == 2:
        check(g["status"][()].decode() == "invalid: broke outside the gauge length", "specimen 2 status")
        check(s["invalid_by"][()].decode() == "carla", "specimen 2 invalid_by")
        check(any(kd == "invalid" and "broke outside the gauge length (by carla" in t for kd, t in ev), "invalid event")
        check("broke outside the gauge length" in sp.get("excluded_reason", ""), "specimen 2 excluded with its reason")
        check("results" not in sp, "specimen 2 has no results")
        continue
    if k == 1:
        check(any(kd == "note" and t == "grips cleaned before the series (by anna)" for kd, t in ev), "the note")

    force = np.asarray(g["frame1/force"][()], dtype=float)
    sigma = np.nanmax(force) / (b * h)
    got = sp["results"]["tensile_strength"]["value"]
    check(abs(got - sigma) <= 1e-9 * sigma, "specimen %d: σm %.9g, numpy %.9g" % (k, got, sigma))
    check(abs(sp["dimensions"]["width_mm"] - b) < 1e-12, "specimen %d: certificate width" % k)
check(c["series"]["tensile_strength"]["n"] == 2, "the series has the 2 valid specimens")
sys.exit(1 if bad else 0)
PYEOF

# --- killed -9 mid-specimen: `polydaq recover` repairs the file ---------------------------------------
# (the frame ten times slower, so the specimen runs past the store's first flush)
sed -e 's/"--time-scale", "50"/"--time-scale", "5"/; s/--time-scale, "50"/--time-scale, "5"/' "$work/lab.yaml" >"$work/slow.yaml"
grep -q 'time-scale, "5"' "$work/slow.yaml" || fail "slow lab"
specimen_running() { # SOCKET: dims and start for specimen 1, then 1.5 s of its points
  "$PY" - "$1" <<'PYEOF'
import sys, time
from station_client import Client
c = Client(sys.argv[1], "client")
c.until(lambda e: e["type"] == "need_dims", "need_dims")
c.send(cmd="dims", specimen=1, values={"width": 10.0, "thickness": 4.0}, by="anna")
c.state(1, "ready")
c.send(cmd="start", by="anna")
c.state(1, "running")
end = time.monotonic() + 1.5
while time.monotonic() < end:
    c.until(lambda e: e["type"] == "points", "points")
PYEOF
}
"$PD_CLI" run "$work/slow.yaml" -o "$work/crash" --control "$work/stations/crash.sock" >"$work/crash.out" 2>"$work/crash.err" &
run_pid=$!
specimen_running "$work/stations/crash.sock" || fail "the crash run's first specimen"
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
run_pid=
crash=$(ls "$work"/crash/run-*.h5 | head -n1)
expect_exit 0 "recover of the killed station run" "$PD_CLI" recover "$crash"
"$PY" - "$crash" <<'PYEOF' || fail "the recovered file holds specimen 1's samples"
import h5py, sys
f = h5py.File(sys.argv[1], "r")
n = f["specimen_01/frame1/force"].shape[0]
sys.exit(0 if n > 0 else "no samples (%d)" % n)
PYEOF

# --- stop, then abort mid-specimen (the killed run's lock went with it: the instrument is free; its
# stale socket file is replaced) ------------------------------------------------------------------------
[ -S "$work/stations/crash.sock" ] || fail "the killed run's socket file is left (as SIGKILL leaves it)"
# (with the test hook that drops a client at 16 KiB unread: one that never reads goes, the run and
# the client that reads go on)
POLYDAQ_TEST_STATION_OUT_MAX=16384 "$PD_CLI" run "$work/slow.yaml" -o "$work/crash" --control "$work/stations/crash.sock" \
  >"$work/abort.out" 2>"$work/abort.err" &
run_pid=$!
"$PY" - "$work/stations/crash.sock" <<'PYEOF' &
import sys, time
from station_client import Client
s = Client(sys.argv[1], "silent").sock
time.sleep(6)  # never reads while the specimen runs
data = b""
s.settimeout(30)
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.exit(0 if b'"type":"end"' not in data else "the client that did not read was not dropped")
PYEOF
sleeper=$!
specimen_running "$work/stations/crash.sock" || { fail "the abort run's first specimen"; cat "$work/abort.err" >&2; }
"$PY" - "$work/stations/crash.sock" <<'PYEOF' || { fail "abort over the socket"; kill -9 "$run_pid"; }
import sys, time
from station_client import Client
c = Client(sys.argv[1], "abort")
end = time.monotonic() + 3  # the silent client is dropped meanwhile; this one reads on
while time.monotonic() < end:
    c.until(lambda e: e["type"] == "points", "points")
c.send(cmd="stop", by="bert", cmd_id=1)  # specimen 1 finished now, as at a break: evaluated
assert c.reply(1)["type"] == "ack"
ev = c.until(lambda e: e["type"] == "event" and e["kind"] == "stop", "the stop event")
assert ev["by"] == "bert" and ev["specimen"] == 1, ev
st = c.until(lambda e: e["type"] == "state" and e["state"] == "done", "done 1")
assert st["outcome"] == "completed" and st["machine"] == "stopped", st
c.state(2, "waiting_dims")
c.send(cmd="dims", specimen=2, values={"width": 10.0, "thickness": 4.0}, by="bert")
c.state(2, "ready")
c.send(cmd="start", by="bert")
c.state(2, "running")
c.until(lambda e: e["type"] == "points" and e["specimen"] == 2, "points of specimen 2")
c.send(cmd="abort", by="bert", cmd_id=2)
assert c.reply(2)["type"] == "ack"
ev = c.until(lambda e: e["type"] == "event" and e["kind"] == "abort", "the abort event")
assert ev["by"] == "bert" and ev["specimen"] == 2, ev
st = c.until(lambda e: e["type"] == "state" and e["state"] == "done", "done")
assert st["machine"] == "aborted" and st["outcome"] == "aborted", st
end = c.until(lambda e: e["type"] == "end", "end")
assert end["outcome"] == "aborted", end
PYEOF
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -ne 0 ] || fail "an aborted series exits non-zero"
grep -E "Sanitizer|runtime error" "$work/abort.err" && fail "sanitizer report in the aborted run's output"
grep -q "aborted by bert" "$work/abort.err" || fail "the outcome names who aborted: $(tail -n2 "$work/abort.err")"
aborted=$(tail -n1 "$work/abort.out")
"$PY" - "$aborted" <<'PYEOF' || fail "the aborted run's file"
import h5py, sys
f = h5py.File(sys.argv[1], "r")
assert f["specimen_01/status"][()].decode() == "tested", "the stopped specimen is tested"
ev = [(e["kind"].decode(), e["text"].decode()) for e in f["specimen_01/events"][()]]
assert any(k == "stop" and t.startswith("stopped by bert") for k, t in ev), ev
st = f["specimen_02/status"][()].decode()
assert st == "invalid: aborted by bert", st
assert f["specimen_02/sample/invalid_by"][()].decode() == "bert"
ev = [(e["kind"].decode(), e["text"].decode()) for e in f["specimen_02/events"][()]]
assert any(k == "abort" and t.startswith("aborted by bert") for k, t in ev), ev
assert f.attrs["outcome"] in (b"interrupted", "interrupted"), f.attrs["outcome"]
assert f["specimen_03/frame1/force"].shape[0] == 0, "specimen 3 never ran"
PYEOF
[ -e "$work/stations/crash.sock" ] && fail "the aborted run left its socket"
wait "$sleeper" || fail "the client that does not read"
grep -q "station: client [0-9]* dropped: it does not read" "$work/abort.err" || fail "the drop is logged: $(grep station "$work/abort.err")"

# --- the frame's simulator killed mid-specimen: the machine shows "disconnected", the run fails ---------
sed -e 's/^  specimen_timeout_s: 60/  specimen_timeout_s: 60\n  reconnect_timeout_s: 2/' "$work/slow.yaml" >"$work/lost.yaml"
grep -q "reconnect_timeout_s: 2" "$work/lost.yaml" || fail "lost lab"
"$PD_CLI" run "$work/lost.yaml" -o "$work/lost" --control "$work/stations/lost.sock" >"$work/lost.out" 2>"$work/lost.err" &
run_pid=$!
"$PY" - "$work/stations/lost.sock" "$run_pid" <<'PYEOF' || { fail "a lost frame over the socket"; kill -9 "$run_pid"; }
import os, signal, subprocess, sys
from station_client import Client
c = Client(sys.argv[1], "lost")
c.until(lambda e: e["type"] == "need_dims", "need_dims")
c.send(cmd="dims", specimen=1, values={"width": 10.0, "thickness": 4.0}, by="anna")
c.state(1, "ready")
c.send(cmd="start", by="anna")
c.state(1, "running")
c.until(lambda e: e["type"] == "points", "points")
sim = subprocess.run(["pgrep", "-P", sys.argv[2], "-f", "loadframe"], capture_output=True, text=True).stdout.split()
assert len(sim) == 1, sim
os.kill(int(sim[0]), signal.SIGKILL)
st = c.until(lambda e: e["type"] == "state" and e["machine"] == "disconnected", "machine disconnected")
assert st["specimen"] == 1, st
end = c.until(lambda e: e["type"] == "end", "end")
assert end["outcome"] == "failed" and "frame1" in end["reason"], end
PYEOF
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 3 ] || fail "a run whose frame is lost exits 3, not $rc"
grep -E "Sanitizer|runtime error" "$work/lost.err" && fail "sanitizer report in the failed run's output"
[ -e "$work/stations/lost.sock" ] && fail "the failed run left its socket"

[ "$fails" -eq 0 ] || exit 1
echo "station_control_test: passed"
