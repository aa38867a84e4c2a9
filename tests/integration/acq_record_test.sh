#!/usr/bin/env bash
# acq_record_test.sh — monitoring runs (`method: record`): a 3-day recording compressed into a
# few seconds (recording clock and simulators sped up) rolls over into 3 daily files with every
# sample of every instrument in exactly one of them (sequence numbers continuous across files,
# checked with h5py against an independent count of the datasets), the alarm band left and entered
# again as the data show it; Ctrl-C ends an open-ended recording as interrupted (exit 130) with the
# same continuity; bad alarm sections exit 2 naming file:line:column.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py/numpy"; exit 77; }
cfg="$PD_SOURCE_DIR/tests/integration/data/record-3day.yaml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# The checks shared by both runs: argv = expected outcome, expected file count ("" = at least 2),
# then the files in order.
cat >"$work/check.py" <<'PY'
import re, sys, h5py, numpy as np
outcome, nfiles, files = sys.argv[1], sys.argv[2], sys.argv[3:]
if nfiles:
    assert len(files) == int(nfiles), "%d files, expected %s" % (len(files), nfiles)
else:
    assert len(files) >= 2, "%d file(s): no rollover" % len(files)
fs = [h5py.File(p, "r") for p in files]
run_ids = {f.attrs["run_id"] for f in fs}
assert len(run_ids) == 1, run_ids
for k, (p, f) in enumerate(zip(files, fs), start=1):
    assert p.endswith("-%03d.h5" % k), p
    assert f.attrs["method"] == "record"
    assert int(f.attrs["recording_file"]) == k
    assert f.attrs["start_time"] == fs[0].attrs["start_time"]
    if k > 1:  # a file begins after the one before it ended
        assert f.attrs["file_start_time"] >= fs[k - 2].attrs["end_time"], (p, f.attrs["file_start_time"])
    entries = [g for g in f if g.startswith("specimen_")]
    assert entries == ["specimen_01"], "one entry per file: %s" % entries
    last = k == len(fs)
    assert f.attrs["outcome"] == (outcome if last else "completed"), (p, f.attrs["outcome"])
    if not last:
        assert f.attrs["next_file"] == files[k].rsplit("/", 1)[1]
    # the file's own count of samples, against the datasets it holds
    n = sum(len(f["specimen_01"][i]["sequence"]) for i in ("room", "slow"))
    assert int(f.attrs["samples_written"]) == n, (p, int(f.attrs["samples_written"]), n)
for inst in ("room", "slow"):
    seqs = [f["specimen_01"][inst]["sequence"][:] for f in fs]
    # a stop just after a rollover may leave a slow instrument nothing in the last file
    full = seqs if outcome == "completed" else seqs[:-1]
    assert all(len(s) > 0 for s in full), "%s: a file without samples: %s" % (inst, [len(s) for s in seqs])
    seq = np.concatenate(seqs)
    # every sample in exactly one file: 0, 1, 2, ... with no gap and no repeat, across boundaries
    assert np.array_equal(seq, np.arange(len(seq))), "%s: sequence not continuous across files" % inst
    t = np.concatenate([f["specimen_01"][inst]["time"][:] for f in fs])
    assert np.all(np.diff(t) > 0), "%s: time not increasing across files" % inst
    # file boundaries: the last sample of a file precedes the first of the next
    ends = [(f["specimen_01"][inst]["time"][:]) for f in fs]
    ends = [e for e in ends if len(e)]
    for a, b in zip(ends, ends[1:]):
        assert a[-1] < b[0]
print("files", len(fs), "samples", sum(int(f.attrs["samples_written"]) for f in fs))
PY

# --- 3 days, daily files ------------------------------------------------------------------------
"$PD_CLI" run "$cfg" -o "$work/a" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "3-day recording exit $rc"; cat "$work/err" >&2; }
mapfile -t files < <(ls "$work/a"/run-*.h5 | sort)
"$PY" "$work/check.py" completed 3 "${files[@]}" || fail "3-day recording: files and continuity"
total=$(sed -nE 's/.* ([0-9]+) samples acquired, ([0-9]+) written, 0 lost.*/\1 \2/p' "$work/err")
"$PY" - "$total" "${files[@]}" <<'PY' || fail "the run's totals on stderr against the files"
import sys, h5py
acquired, written = map(int, sys.argv[1].split())
n = sum(len(h5py.File(p, "r")["specimen_01"][i]["time"]) for p in sys.argv[2:] for i in ("room", "slow"))
assert acquired == written == n, (acquired, written, n)
PY
# alarms: the room warms from 20 degC through the band's floor (21); the alarm must name a value
# below the band that was recorded, the all-clear the first recorded value in the band or a later one
"$PY" - "${files[@]}" <<'PY' || fail "alarm events against the data"
import re, sys, h5py, numpy as np
fs = [h5py.File(p, "r") for p in sys.argv[1:]]
temp = np.concatenate([f["specimen_01/room/temperature"][:] for f in fs])
ev = [(e["kind"].decode(), e["text"].decode()) for f in fs for e in f["specimen_01/events"][:]]
alarms = [t for k, t in ev if k == "alarm"]
clears = [t for k, t in ev if k == "alarm_cleared"]
assert alarms and clears, ev
val = lambda t: float(re.search(r"= (\S+),", t).group(1))
first_in = int(np.argmax(temp >= 21.0))
assert temp[0] < 21.0 and temp[first_in] >= 21.0, "the data do not cross 21 degC"
a, c = val(alarms[0]), val(clears[0])
assert a < 21.0 and np.any(np.isclose(temp[:first_in], a, rtol=0, atol=1e-3)), a
assert c >= 21.0 and np.any(np.isclose(temp[first_in:], c, rtol=0, atol=1e-3)), c
# the first alarm is the state at the start; each later event needs a crossing numpy sees in the data
inside = (temp >= 21.0) & (temp <= 25.0)
crossings = int(np.count_nonzero(np.diff(inside.astype(int)) != 0))
assert len(alarms) + len(clears) - 1 <= crossings, (len(alarms), len(clears), crossings)
print("alarms ok", len(alarms), len(clears), crossings)
PY
grep -q "alarm: room.temperature = .*outside its band 21..25" "$work/err" || fail "alarm line on stderr"
grep -q "alarm: room.temperature = .*back in its band 21..25" "$work/err" || fail "all-clear line on stderr"

# --- export joins the files of the recording into one CSV --------------------------------------
"$PD_CLI" export "${files[@]}" --format csv --instrument slow -o "$work/slow.csv" || fail "export of the 3 files"
"$PY" - "$work/slow.csv" "${files[@]}" <<'PY' || fail "joined CSV against the files"
import csv, sys, h5py, numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
fs = [h5py.File(p, "r") for p in sys.argv[2:]]
t = np.concatenate([f["specimen_01/slow/time"][:] for f in fs])
v = np.concatenate([f["specimen_01/slow/temperature"][:] for f in fs])
assert len(rows) == len(t) > 0, (len(rows), len(t))
assert [int(r["time_ns"]) for r in rows] == list(t)
assert [int(r["sequence"]) for r in rows] == list(range(len(t)))
assert np.array_equal(np.array([float(r["temperature [degC]"]) for r in rows]), v)
print("joined csv ok", len(rows))
PY
"$PD_CLI" export "${files[0]}" "${files[2]}" --format csv -o "$work/gap.csv" >/dev/null 2>"$work/err"
[ $? -eq 2 ] || fail "export of files 1 and 3 exits 2"
grep -q "is not the file after" "$work/err" || fail "gap message: $(cat "$work/err")"
[ ! -e "$work/gap.csv" ] || fail "a refused join leaves no CSV behind"
"$PD_CLI" export "${files[@]}" --format json >/dev/null 2>&1; [ $? -eq 2 ] || fail "join as json exits 2"

# --- open-ended recording ended by Ctrl-C: interrupted, 130, nothing lost at the boundaries --------
sed 's/^  duration: .*/  duration: 0/' "$cfg" >"$work/open.yaml"
"$PD_CLI" run "$work/open.yaml" -o "$work/b" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do # until the third file exists (at most 10 s)
  [ "$(ls "$work/b" 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.1
done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || { fail "Ctrl-C exit $rc, expected 130"; cat "$work/err" >&2; }
mapfile -t files < <(ls "$work/b"/run-*.h5 | sort)
"$PY" "$work/check.py" interrupted "" "${files[@]}" || fail "interrupted recording: files and continuity"

# --- bad alarm sections: exit 2, file:line:column -----------------------------------------------
sed 's/room.temperature, low: 21/room.humidity, low: 21/' "$cfg" >"$work/bad1.yaml"
"$PD_CLI" run "$work/bad1.yaml" -o "$work/c" >/dev/null 2>"$work/err"
rc=$?
[ "$rc" -eq 2 ] || fail "unknown alarm channel exit $rc, expected 2"
grep -Eq "bad1.yaml:[0-9]+:[0-9]+: .*alarm channel 'room.humidity'" "$work/err" || fail "unknown channel message: $(cat "$work/err")"
sed 's/low: 21, high: 25/low: 25, high: 21/' "$cfg" >"$work/bad2.yaml"
"$PD_CLI" run "$work/bad2.yaml" -o "$work/d" >/dev/null 2>"$work/err"
rc=$?
[ "$rc" -eq 2 ] || fail "inverted alarm band exit $rc, expected 2"
grep -Eq "bad2.yaml:[0-9]+:[0-9]+: .*low \(25\) must be below high \(21\)" "$work/err" || fail "band message: $(cat "$work/err")"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "acq_record_test: all checks passed"
