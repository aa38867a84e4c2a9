#!/usr/bin/env bash
# modbus_fault_kill_test.sh — the instrument dies mid-run: `polydaq run` talks to a simulator this
# test started itself on a fixed port (no `simulator:` section); the simulator is killed with
# SIGKILL while specimen 2 runs and started again on the same port a second later. The run must
# count the error, reconnect, carry on with specimen 3 and keep every sample taken before the
# fault: checked with `polydaq inspect` and h5py (events fault and reconnect, strictly increasing
# timestamps, specimen 1 complete and specimen 2 recorded up to the fault).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
PY=/usr/bin/python3
work=$(mktemp -d)
sim_pid=""
run_pid=""
cleanup() {
  [ -n "$run_pid" ] && kill "$run_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

start_sim() { # tries for a few seconds: the old socket may still hold the port briefly
  for _ in $(seq 1 50); do
    "$PD_SIM" loadframe --tcp "127.0.0.1:$port" --material pp-demo --seed 7 --time-scale 50 \
      >"$work/sim.out" 2>"$work/sim.err" &
    sim_pid=$!
    for _ in $(seq 1 50); do
      grep -q "^listening tcp://127.0.0.1:$port" "$work/sim.out" && return 0
      kill -0 "$sim_pid" 2>/dev/null || break
      sleep 0.02
    done
    kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; sim_pid=""
    sleep 0.1
  done
  return 1
}

# The integration lab, pointed at our simulator: no simulator section, three specimens, and a
# short specimen timeout for the specimen the restarted (idle) simulator never finishes.
sed -e "s|tcp://127.0.0.1:0|tcp://127.0.0.1:$port|" -e '/^    simulator:/,/^      args:/d' \
    -e 's/specimens: 5/specimens: 3/' -e 's/specimen_timeout_s: 60/specimen_timeout_s: 3/' \
    "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" >"$work/lab.yaml"
grep -q "simulator" "$work/lab.yaml" && fail "the test config still has a simulator section"

start_sim || { fail "simulator did not start on port $port"; exit 1; }
"$PD_CLI" run "$work/lab.yaml" -o "$work/runs" >"$work/run.out" 2>"$work/run.err" &
run_pid=$!

# Specimen 1 done (its progress line is printed), specimen 2 under way: kill the instrument.
for _ in $(seq 1 300); do
  grep -q "specimen 1/3" "$work/run.err" && break
  sleep 0.02
done
grep -q "specimen 1/3" "$work/run.err" || fail "specimen 1 did not finish"
sleep 0.3
kill -9 "$sim_pid"
wait "$sim_pid" 2>/dev/null
sim_pid=""
sleep 1
start_sim || fail "simulator did not restart on port $port"

wait "$run_pid"
rc=$?
run_pid=""
# Specimen 2 was lost with the instrument (it timed out): the series finished, but incomplete.
[ "$rc" -eq 3 ] || { fail "run exit $rc after a reconnect (expected 3: finished, incomplete)"; cat "$work/run.err" >&2; }
grep -q "outcome incomplete: 2 of 3 specimens tested (specimen 2: timeout)" "$work/run.err" || fail "outcome incomplete on stderr"
grep -Eq "reconnect" "$work/run.err" || fail "run log does not mention the reconnect"
run_file=$(head -n1 "$work/run.out")
[ -f "$run_file" ] || { fail "no run file (got '$run_file')"; cat "$work/run.err" >&2; exit 1; }

"$PD_CLI" inspect "$run_file" >"$work/inspect.out" 2>&1 || fail "inspect failed"
grep -q "closed *cleanly" "$work/inspect.out" || fail "run file not closed cleanly"
grep -Eq "specimen 1 .*status: tested" "$work/inspect.out" || fail "specimen 1 not tested"
grep -Eq "specimen 3 .*status: tested" "$work/inspect.out" || fail "specimen 3 not tested after the reconnect"
grep -Eq "event .* fault " "$work/inspect.out" || fail "no fault event"
grep -Eq "event .* reconnect " "$work/inspect.out" || fail "no reconnect event"

"$PY" - "$run_file" <<'EOF' || fail "h5py check"
import sys
import h5py
import numpy as np

def events(group):
    out = []
    if "events" not in group:
        return out
    for row in group["events"][...]:
        kind = row["kind"].decode() if isinstance(row["kind"], bytes) else row["kind"]
        out.append((int(row["time"]), kind))
    return out

with h5py.File(sys.argv[1], "r") as f:
    allev = events(f) + [e for k in f if k.startswith("specimen_") for e in events(f[k])]
    faults = [t for t, k in allev if k == "fault"]
    reconnects = [t for t, k in allev if k == "reconnect"]
    assert faults and reconnects, allev
    assert min(reconnects) > min(faults)
    t_fault = min(faults)
    for name in ("specimen_01", "specimen_02", "specimen_03"):
        t = f[name]["frame1"]["time"][...]
        assert np.all(np.diff(t) > 0), f"{name}: timestamps do not strictly increase"
    t1 = f["specimen_01"]["frame1"]["time"][...]
    # specimen 1 is whole: about 1.1 s at 500 Hz with no hole
    assert len(t1) > 400 and np.max(np.diff(t1)) < 100e6, (len(t1), np.max(np.diff(t1)))
    t2 = f["specimen_02"]["frame1"]["time"][...]
    before = t2[t2 < t_fault]
    # specimen 2 ran ~0.3 s before the kill: those samples are all on file, without holes
    assert len(before) > 50 and np.max(np.diff(before)) < 100e6, (len(before),)
    assert int(f.attrs["samples_lost"]) == 0
    assert int(f.attrs["read_errors"]) >= 1
    print(f"ok: fault at {t_fault}, {len(before)} samples of specimen 2 before it, "
          f"{len(f['specimen_03']['frame1']['time'])} in specimen 3 after the reconnect")
EOF

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "modbus_fault_kill_test: all checks passed"
