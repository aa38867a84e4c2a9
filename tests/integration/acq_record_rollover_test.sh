#!/usr/bin/env bash
# acq_record_rollover_test.sh — a rollover whose next file cannot be created loses no sample:
# (1) the next file's name is taken (a directory there, as a full or read-only disk would refuse
#     the create): the recording goes on in the current file, each failed attempt is a
#     `rollover_failed` event and a warning, the rollover is tried again every `rollover_retry`,
#     and once the name is free the next file is created (`rollover_recovered`), the later files
#     on their schedule; every sample is in exactly one file, those taken after the failure in the
#     file that was current, and each file's own counts match its datasets;
# (2) the run's directory renamed away mid-run: at the rollover the current file is no longer
#     where the run writes and the next cannot be created, so the run fails (exit 3, outcome
#     failed, the reason on stderr); the file, where it was moved to, holds every sample the
#     writer received, in sequence (its final attributes cannot be added: the store reopens a
#     file by its path for them, so it says closed_cleanly 0);
# (3) a full disk (a 3 MB tmpfs, mostly taken; this part is skipped when it cannot be mounted):
#     the writer's space check stops the recording while its file can still be closed (exit 3,
#     outcome failed, "disk full"), every sample acquired is in the files, in sequence.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py/numpy"; exit 77; }
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, run_pid, fail, wait_for_run_file
# 4 days in daily files at 43200x (a day in 2 s), a failed rollover retried every 2 h (0.17 s)
sed -e 's/^  duration: .*/  duration: 345600/' -e 's/^  rollover: .*/  rollover: 86400\n  rollover_retry: 7200/' \
  "$PD_SOURCE_DIR/tests/integration/data/record-3day.yaml" >"$work/rec.yaml"

wait_for_line() { # file pattern → 0 once the pattern is in the file (within 10 s)
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# --- (1) the next file's name taken, then freed ---------------------------------------------------
"$PD_CLI" run "$work/rec.yaml" -o "$work/a" >"$work/out" 2>"$work/err" &
run_pid=$!
first=$(wait_for_run_file "$work/a") || fail "no run file"
blocker="${first%-001.h5}-002.h5"
mkdir "$blocker"
wait_for_line "$work/err" "cannot be created (attempt 2)" || fail "no second failed attempt: $(cat "$work/err")"
rmdir "$blocker"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 0 ] || { fail "blocked rollover: exit $rc, expected 0"; cat "$work/err" >&2; }
grep -q "warning: the next file run-.*-002.h5 cannot be created (attempt 1): .*refusing to overwrite an existing file.*; the recording goes on in run-.*-001.h5" "$work/err" ||
  fail "warning line: $(cat "$work/err")"
mapfile -t files < <(ls "$work/a"/run-*.h5 | sort)
total=$(sed -nE 's/.* ([0-9]+) samples acquired, ([0-9]+) written, 0 lost.*/\1 \2/p' "$work/err")
"$PY" - "$total" "${files[@]}" <<'PY' || fail "blocked rollover: files, events and continuity"
import sys, h5py, numpy as np
acquired, written = map(int, sys.argv[1].split())
files = sys.argv[2:]
assert len(files) == 4, files  # the late file 002, then 003 and 004 on the daily schedule
fs = [h5py.File(p, "r") for p in files]
ev = lambda f: [(e["kind"].decode(), e["text"].decode(), int(e["time"])) for e in f["specimen_01/events"][:]]
failed = [e for e in ev(fs[0]) if e[0] == "rollover_failed"]
assert len(failed) >= 2, ev(fs[0])
assert [int(x[1].split("(attempt ")[1].split(")")[0]) for x in failed] == list(range(1, len(failed) + 1))
rec = [e for e in ev(fs[1]) if e[0] == "rollover_recovered"]
assert len(rec) == 1 and ("after %d failed attempt(s)" % len(failed)) in rec[0][1], (rec, len(failed))
assert not any(e[0].startswith("rollover_") for f in fs[2:] for e in ev(f))
for k, f in enumerate(fs, start=1):
    assert int(f.attrs["recording_file"]) == k
    n = sum(len(f["specimen_01"][i]["sequence"]) for i in ("room", "slow"))
    assert int(f.attrs["samples_written"]) == n, (k, int(f.attrs["samples_written"]), n)
    if k < 4:
        assert f.attrs["outcome"] == "completed" and f.attrs["next_file"] == files[k].rsplit("/", 1)[1]
assert fs[3].attrs["outcome"] == "completed"
for inst in ("room", "slow"):
    seq = np.concatenate([f["specimen_01"][inst]["sequence"][:] for f in fs])
    assert np.array_equal(seq, np.arange(len(seq))), inst + ": not every sample exactly once"
# the samples taken after the failed rollover stayed in the file that was current
t1 = fs[0]["specimen_01/room/time"][:]
assert np.count_nonzero(t1 > failed[0][2]) >= 2, "no sample after the failure in file 1"
assert fs[1]["specimen_01/room/time"][0] > t1[-1]
n = sum(len(f["specimen_01"][i]["time"]) for f in fs for i in ("room", "slow"))
assert acquired == written == n, (acquired, written, n)
print("blocked rollover ok:", len(failed), "failed attempts,", n, "samples")
PY

# --- (2) the run's directory renamed away: the run fails, its file closed cleanly ------------------
"$PD_CLI" run "$work/rec.yaml" -o "$work/b" >"$work/out" 2>"$work/err" &
run_pid=$!
first=$(wait_for_run_file "$work/b") || fail "no run file"
sleep 0.3 # some samples first
mv "$work/b" "$work/b.moved"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 3 ] || { fail "directory gone: exit $rc, expected 3"; cat "$work/err" >&2; }
grep -q "the run file is gone from its directory (removed or renamed) and the next file cannot be created" "$work/err" ||
  fail "directory gone: message: $(cat "$work/err")"
grep -q "outcome failed" "$work/err" || fail "directory gone: outcome line: $(cat "$work/err")"
[ ! -e "$work/b" ] || fail "directory gone: the run made its directory again"
mapfile -t files < <(ls "$work/b.moved"/run-*.h5 | sort)
written=$(sed -nE 's/.* [0-9]+ samples acquired, ([0-9]+) written.*/\1/p' "$work/err")
"$PY" - "$written" "${files[@]}" <<'PY' || fail "directory gone: the file as closed"
import sys, h5py, numpy as np
assert len(sys.argv) == 3, sys.argv[2:]
f = h5py.File(sys.argv[2], "r")
assert int(f.attrs["closed_cleanly"]) == 0 and "outcome" not in f.attrs, dict(f.attrs)
n = 0
for inst in ("room", "slow"):
    seq = f["specimen_01"][inst]["sequence"][:]
    assert len(seq) > 0 and np.array_equal(seq, np.arange(len(seq))), inst
    n += len(seq)
assert n == int(sys.argv[1]), (n, sys.argv[1])  # what the run says it wrote is in the file
print("directory gone ok:", n, "samples in the moved file")
PY

# --- (3) a full disk ------------------------------------------------------------------------------
tfs="$work/tmpfs"
mkdir "$tfs"
trap 'umount "$tfs" 2>/dev/null; cleanup' EXIT # never leave the tmpfs mounted
if mount -t tmpfs -o size=3m tmpfs "$tfs" 2>/dev/null; then
  head -c $((1900 * 1024)) /dev/zero >"$tfs/filler" # about 1.1 MiB left: a file or two, then full
  "$PD_CLI" run "$work/rec.yaml" -o "$tfs/c" >"$work/out" 2>"$work/err"
  rc=$?
  [ "$rc" -eq 3 ] || { fail "full disk: exit $rc, expected 3"; cat "$work/err" >&2; }
  grep -q "disk full: only [0-9]* bytes left on the disk" "$work/err" || fail "full disk: message: $(cat "$work/err")"
  mapfile -t files < <(ls "$tfs/c"/run-*.h5 | sort)
  total=$(sed -nE 's/.* ([0-9]+) samples acquired, ([0-9]+) written, 0 lost.*/\1 \2/p' "$work/err")
  "$PY" - "$total" "${files[@]}" <<'PY' || fail "full disk: the files as closed"
import sys, h5py, numpy as np
acquired, written = map(int, sys.argv[1].split())
fs = [h5py.File(p, "r") for p in sys.argv[2:]]
assert fs[-1].attrs["outcome"] == "failed" and "disk full" in fs[-1].attrs["outcome_reason"], dict(fs[-1].attrs)
assert all(int(f.attrs["closed_cleanly"]) == 1 for f in fs)
for inst in ("room", "slow"):
    seq = np.concatenate([f["specimen_01"][inst]["sequence"][:] for f in fs])
    assert np.array_equal(seq, np.arange(len(seq))), inst
n = sum(len(f["specimen_01"][i]["time"]) for f in fs for i in ("room", "slow"))
assert acquired == written == n, (acquired, written, n)
print("full disk ok:", len(fs), "file(s),", n, "samples")
PY
  umount "$tfs" || fail "cannot unmount $tfs"
else
  echo "SKIP (part 3): cannot mount a tmpfs here"
fi

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "acq_record_rollover_test: all checks passed"
