#!/usr/bin/env bash
# recover_live_test.sh — `polydaq recover` never touches a file a live run still writes: the run's
# writer holds a lock on its file for the run's whole life, so recover on it is refused (naming the
# file and the run's pid), leaves the file where it is, and the run then completes cleanly with all
# its samples in that file. The lock goes with the process: after kill -9 recover works at once.
# Last, a run whose file was moved away and replaced behind its back (as the old recover did) does
# not write its end into the stranger: it fails the close and its data stay in its own file.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
CHECK="$PD_SOURCE_DIR/tests/integration/acq_check.py"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $run_pid, wait_for_run_file, fail; cleanup on exit

# The multi-instrument lab with the simulated clock 10x fast: the run lasts several seconds.
sed 's/--time-scale, "50"/--time-scale, "10"/' "$PD_SOURCE_DIR/tests/integration/data/acq-multi.yaml" >"$work/slow.yaml"

# --- recover on a live run: refused; the run completes cleanly, its file whole ------------------
"$PD_CLI" run "$work/slow.yaml" -o "$work/live" >"$work/out" 2>"$work/err" &
run_pid=$!
run_file=$(wait_for_run_file "$work/live") || fail "no run file appeared"
"$PY" "$CHECK" grows "$run_file" specimen_01/frame1/time 5 || fail "the run writes samples"
"$PD_CLI" recover "$run_file" >"$work/rec.out" 2>"$work/rec.err"
rc=$?
[ "$rc" -eq 3 ] || fail "recover of a live file: exit $rc, expected 3"
grep -qF "$run_file" "$work/rec.err" || fail "the refusal names the file: $(cat "$work/rec.err")"
grep -q "process $run_pid" "$work/rec.err" || fail "the refusal names the run's pid $run_pid: $(cat "$work/rec.err")"
grep -q "live run" "$work/rec.err" || fail "the refusal says why: $(cat "$work/rec.err")"
[ -e "$run_file.crashed" ] && fail "a live file was renamed to .crashed"
[ -e "$run_file.recovering" ] && fail "a live file was copied"
"$PD_CLI" recover "$run_file" -o "$work/copy.h5" >/dev/null 2>&1 && fail "recover -o of a live file accepted"
[ -e "$work/copy.h5" ] && fail "recover -o of a live file left a copy"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 0 ] || { fail "the run after a refused recover: exit $rc"; cat "$work/err" >&2; }
"$PY" "$CHECK" accounting "$run_file" --plain --clean 1 || fail "the run's file is whole and closed cleanly"
"$PY" - "$run_file" <<'PY' || fail "the run's file has both specimens and no recovered mark"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert int(f.attrs["closed_cleanly"]) == 1
assert "recovered" not in f.attrs
assert int(f.attrs["specimens_tested"]) == 2, f.attrs["specimens_tested"]
for s in ("specimen_01", "specimen_02"):
    assert len(f[s + "/frame1/time"]) > 100, s
PY
# the lock ended with the run: recover now finds a cleanly closed file and leaves it alone
"$PD_CLI" recover "$run_file" >/dev/null 2>"$work/rec.err" || fail "recover after the run ended: $(cat "$work/rec.err")"
grep -q "closed cleanly; nothing to do" "$work/rec.err" || fail "recover of the closed file: $(cat "$work/rec.err")"

# --- kill -9: the lock is gone with the process, recover works --------------------------------
"$PD_CLI" run "$work/slow.yaml" -o "$work/crash" >"$work/out" 2>"$work/err" &
run_pid=$!
run_file=$(wait_for_run_file "$work/crash") || fail "no run file appeared"
"$PY" "$CHECK" grows "$run_file" specimen_01/frame1/time 5 || fail "data flushed before the kill"
sims=$(pgrep -P "$run_pid")
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
run_pid=
[ -n "$sims" ] && kill $sims 2>/dev/null
"$PD_CLI" recover "$run_file" >/dev/null 2>"$work/rec.err" || fail "recover after kill -9: $(cat "$work/rec.err")"
[ -f "$run_file.crashed" ] || fail "recover after kill -9 keeps the original"
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert f.attrs['recovered']==1 and len(f['specimen_01/frame1/time'])>0" \
  "$run_file" || fail "the recovered file opens plainly with the flushed samples"

# --- the path replaced behind a live run's back: the run keeps to its own file -----------------
"$PD_CLI" run "$work/slow.yaml" -o "$work/moved" >"$work/out" 2>"$work/err" &
run_pid=$!
run_file=$(wait_for_run_file "$work/moved") || fail "no run file appeared"
"$PY" "$CHECK" grows "$run_file" specimen_01/frame1/time 5 || fail "the run writes samples"
mv "$run_file" "$work/own.h5"
printf 'not the run file\n' >"$run_file"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -ne 0 ] || fail "a run whose file was replaced reported success"
grep -q "no longer names the file this run created" "$work/err" || fail "the run says why: $(tail -3 "$work/err")"
[ "$(cat "$run_file")" = "not the run file" ] || fail "the run wrote into a file it did not create"
"$PD_CLI" recover "$work/own.h5" -o "$work/own-rec.h5" >/dev/null 2>"$work/rec.err" ||
  fail "the run's own file is recoverable: $(cat "$work/rec.err")"
"$PY" - "$work/own-rec.h5" <<'PY' || fail "the run's own file holds both specimens' samples"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for s in ("specimen_01", "specimen_02"):
    assert len(f[s + "/frame1/time"]) > 100, (s, len(f[s + "/frame1/time"]))
PY

[ "$fails" -eq 0 ] || exit 1
echo "recover_live_test: passed"
