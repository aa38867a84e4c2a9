#!/usr/bin/env bash
# acq_live_test.sh — a run seen from outside while it is going on: a SWMR reader (h5py,
# swmr=True) sees the data grow; SIGUSR1 records an operator mark; SIGINT stops cleanly (exit 130, outcome interrupted,
# file closed, every sample accounted for). Then `kill -9` of a run, `polydaq recover`, and a
# plain h5py read of everything flushed; a second SIGINT aborts at once even while the clean stop
# waits for a stalled writer, leaving a SWMR-readable, recoverable file. Last, a file size limit (ulimit -f, as a full disk) stops
# the run with a clear message and leaves a closed, readable file.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
CHECK="$PD_SOURCE_DIR/tests/integration/acq_check.py"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $run_pid, wait_for_run_file, fail; cleanup on exit

# The multi-instrument lab with the simulated clock only 5x fast: a specimen takes ~10 s.
sed 's/--time-scale, "50"/--time-scale, "5"/' "$PD_SOURCE_DIR/tests/integration/data/acq-multi.yaml" >"$work/slow.yaml"

# --- live reader, operator mark, clean stop ------------------------------------------------------
"$PD_CLI" run "$work/slow.yaml" -o "$work/live" >"$work/out" 2>"$work/err" &
run_pid=$!
run_file=$(wait_for_run_file "$work/live") || fail "no run file appeared"
"$PY" "$CHECK" grows "$run_file" specimen_01/frame1/time 5 || fail "a SWMR reader sees the data grow"
kill -USR1 "$run_pid"
sleep 0.5
kill -INT "$run_pid"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 130 ] || { fail "SIGINT: exit $rc, expected 130 (interrupted, file closed)"; cat "$work/err" >&2; }
grep -q "(interrupted)" "$work/err" || fail "summary says interrupted"
grep -q "outcome interrupted: stopped on request by SIGINT" "$work/err" || fail "outcome on stderr"
"$PY" "$CHECK" accounting "$run_file" --plain --clean 1 || fail "accounting after SIGINT"
"$PY" "$CHECK" events "$run_file" mark || fail "SIGUSR1 became a mark event"
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f.attrs['interrupted']==1; assert f.attrs['outcome']=='interrupted'" "$run_file" \
  || fail "interrupted attribute"

# --- kill -9, recover, plain h5py ---------------------------------------------------------------
"$PD_CLI" run "$work/slow.yaml" -o "$work/crash" >"$work/out" 2>"$work/err" &
run_pid=$!
run_file=$(wait_for_run_file "$work/crash") || fail "no run file appeared"
"$PY" "$CHECK" grows "$run_file" specimen_01/frame1/time 5 || fail "data flushed before the kill"
sleep 0.5
sims=$(pgrep -P "$run_pid")
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
run_pid=
[ -n "$sims" ] && kill $sims 2>/dev/null
"$PY" -c "import h5py,sys; h5py.File(sys.argv[1],'r')" "$run_file" 2>/dev/null && fail "a crashed file opens plainly?"
"$PD_CLI" inspect "$run_file" >"$work/inspect" 2>&1 || fail "inspect of a crashed file"
grep -q "NOT cleanly" "$work/inspect" || fail "inspect says the crashed file was not closed cleanly"
"$PD_CLI" recover "$run_file" >"$work/out" 2>"$work/err" || { fail "recover exit"; cat "$work/err" >&2; }
[ -f "$run_file.crashed" ] || fail "recover keeps the original"
"$PY" "$CHECK" accounting "$run_file" --plain --clean 0 || fail "plain h5py read of the recovered file"
"$PY" - "$run_file" <<'PY' || fail "recovered file holds the flushed samples"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["recovered"] == 1
n = len(f["specimen_01/frame1/time"])
assert n >= 250, "only %d samples (more than 0.5 s at 500 Hz were flushed)" % n
print("recovered %d samples" % n)
PY
"$PD_CLI" recover "$run_file" >/dev/null 2>"$work/err" || fail "recover of a recovered file"
"$PD_CLI" inspect "$run_file" | grep -q "recovered after a crash" || fail "inspect says recovered"

# --- a second SIGINT aborts at once; the file stays readable -------------------------------------
# The writer is held up for 8 s by the test hook once samples flow, so the clean stop the first
# SIGINT asks for must wait for it: the second SIGINT has to end the process long before that.
POLYDAQ_TEST_WRITER_STALL_MS=8000 "$PD_CLI" run "$work/slow.yaml" -o "$work/abort" >"$work/out" 2>"$work/err" &
run_pid=$!
run_file=$(wait_for_run_file "$work/abort") || fail "no run file appeared"
for _ in $(seq 100); do grep -q "the writer stalls" "$work/err" && break; sleep 0.05; done
grep -q "the writer stalls" "$work/err" || fail "the writer stall hook did not engage"
sims=$(pgrep -P "$run_pid")
kill -INT "$run_pid"
sleep 0.5
kill -0 "$run_pid" 2>/dev/null || fail "the clean stop did not wait for the stalled writer"
t0=$(date +%s%N)
kill -INT "$run_pid"
wait "$run_pid"
rc=$?
t1=$(date +%s%N)
run_pid=
[ -n "$sims" ] && kill $sims 2>/dev/null
[ "$rc" -eq 130 ] || fail "second SIGINT: exit $rc, expected 130 (killed by SIGINT)"
# 8 s of stall were left; the abort must not wait for them (a generous bound, not a benchmark)
[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "second SIGINT took $(((t1 - t0) / 1000000)) ms to end the run"
"$PD_CLI" inspect "$run_file" >"$work/inspect" 2>&1 || fail "inspect after an abort"
grep -q "closed *NOT cleanly" "$work/inspect" || { fail "inspect does not say the file was left open"; cat "$work/inspect" >&2; }
"$PY" "$CHECK" accounting "$run_file" || fail "SWMR read after an abort"
"$PD_CLI" recover "$run_file" >/dev/null 2>"$work/err" || fail "recover after an abort: $(cat "$work/err")"
"$PY" "$CHECK" accounting "$run_file" --plain || fail "plain read after recover"

# --- file size limit (a full disk): clean stop, readable file ------------------------------------
sed 's/chunk_samples: 4096, deflate: 1/chunk_samples: 256, deflate: none/' "$work/slow.yaml" >"$work/small.yaml"
(ulimit -f 1200; trap '' XFSZ; exec "$PD_CLI" run "$work/small.yaml" -o "$work/full" -q) >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 3 ] || { fail "file size limit: exit $rc, expected 3"; cat "$work/err" >&2; }
grep -q "file size limit: the file is" "$work/err" || { fail "clear message"; cat "$work/err" >&2; }
run_file=$(ls "$work"/full/run-*.h5 | head -n1)
"$PY" "$CHECK" accounting "$run_file" --plain --clean 1 || fail "file readable after the limit stopped the run"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "acq_live_test: all checks passed"
