#!/usr/bin/env bash
# inspect_recording_test.sh — `polydaq inspect` over the files of one recording run: a 3-day
# compressed recording (3 daily files, two instruments) summarised from the file list, from the
# run's prefix and from the list in another order alike; its per-instrument totals, total span
# and alarm count agree with `polydaq export` of the joined files and with h5py; file 2 left out
# is named as missing and its samples as the gap between file 1 and file 3; an altered copy of
# file 3 (a sequence number repeated) is named; files of two runs, a file given twice or a file
# that is no run exit 2.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py/numpy"; exit 77; }
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit
cfg="$PD_SOURCE_DIR/tests/integration/data/record-3day.yaml"

expect_exit 0 "3-day recording" "$PD_CLI" run "$cfg" -o "$work/a"
mapfile -t files < <(ls "$work/a"/run-*.h5 | sort)
[ "${#files[@]}" -eq 3 ] || { fail "${#files[@]} files, expected 3"; exit 1; }
prefix="${files[0]%-001.h5}"

expect_exit 0 "inspect of the 3 files" "$PD_CLI" inspect "${files[@]}"
cp "$work/out" "$work/all.txt"
grep -q "^recording .*: 3 files (file 1 .. file 3)$" "$work/all.txt" || fail "header: $(cat "$work/all.txt")"
grep -q "^continuity: every sample present exactly once across the files$" "$work/all.txt" || fail "continuity line"
expect_exit 0 "inspect by prefix" "$PD_CLI" inspect "$prefix"
cmp -s "$work/out" "$work/all.txt" || fail "the prefix gives another summary: $(diff "$work/out" "$work/all.txt")"
expect_exit 0 "inspect in reverse order" "$PD_CLI" inspect "${files[2]}" "${files[0]}" "${files[1]}"
cmp -s "$work/out" "$work/all.txt" || fail "another order gives another summary"

# the totals against export's joined CSV and h5py
for inst in room slow; do
  "$PD_CLI" export "${files[@]}" --format csv --instrument "$inst" -o "$work/$inst.csv" || fail "export $inst"
done
"$PY" - "$work/all.txt" "$work/room.csv" "$work/slow.csv" "${files[@]}" <<'PY' || fail "inspect against export and h5py"
import csv, re, sys, h5py, numpy as np
text = open(sys.argv[1]).read()
rows = {i: list(csv.DictReader(open(p))) for i, p in zip(("room", "slow"), sys.argv[2:4])}
fs = [h5py.File(p, "r") for p in sys.argv[4:]]
for inst, r in rows.items():
    m = re.search(r"^instrument %s: (\d+) samples, sequence continuous across the files$" % inst, text, re.M)
    assert m and int(m.group(1)) == len(r), (inst, m and m.group(1), len(r))
    # each file's line counts that file's samples, with its first and last sequence number
    for k, f in enumerate(fs, start=1):
        seq = f["specimen_01/%s/sequence" % inst][:]
        assert re.search(r"^  %s +%d samples, .*, sequence %d\.\.%d$" % (inst, len(seq), seq[0], seq[-1]), text, re.M), (inst, k)
t = [int(x["time_ns"]) for r in rows.values() for x in r]
span = re.search(r"^total span \S+ \.\. \S+ \(([0-9.]+) s\)$", text, re.M)
assert span and abs(float(span.group(1)) - (max(t) - min(t)) / 1e9) < 1e-3, (span and span.group(1), (max(t) - min(t)) / 1e9)
alarms = sum(1 for f in fs for e in f["specimen_01/events"][:] if e["kind"] in (b"alarm", b"alarm_cleared"))
assert alarms >= 2 and re.search(r"^alarms: %d alarm/all-clear events$" % alarms, text, re.M), alarms
print("inspect agrees with export:", {i: len(r) for i, r in rows.items()}, "alarms", alarms)
PY

# file 2 left out: named missing, its samples the gap
expect_exit 0 "inspect of files 1 and 3" "$PD_CLI" inspect "${files[0]}" "${files[2]}"
grep -q "^missing: file 2 .. file 2 of the recording are not in the list$" "$work/out" || fail "missing file: $(cat "$work/out")"
grep -q "^continuity: NOT continuous" "$work/out" || fail "gap: continuity line"
"$PY" - "$work/out" "${files[1]}" <<'PY' || fail "the gap is file 2's samples"
import re, sys, h5py
text = open(sys.argv[1]).read()
f2 = h5py.File(sys.argv[2], "r")
for inst in ("room", "slow"):
    seq = f2["specimen_01/%s/sequence" % inst][:]
    line = "    gap: %s sequence %d..%d missing (%d samples) between file 1 and file 3" % (inst, seq[0], seq[-1], len(seq))
    assert line in text, (line, text)
print("gap ok")
PY

# an altered copy of file 3: its first room sample numbered as the one before it
mkdir "$work/alt"
cp "${files[0]}" "${files[1]}" "${files[2]}" "$work/alt/"
alt3="$work/alt/$(basename "${files[2]}")"
"$PY" - "$alt3" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    d = f["specimen_01/room/sequence"]
    d[0] = d[0] - 1
PY
expect_exit 0 "inspect of the altered files" "$PD_CLI" inspect "$work/alt"/run-*.h5
grep -Eq "^    repeated: room sequence ([0-9]+) between file 2 and file 3 \(after \1\)$" "$work/out" || fail "repeat: $(cat "$work/out")"
grep -Eq "^    gap: room sequence ([0-9]+)\.\.\1 missing \(1 samples\) in file 3$" "$work/out" || fail "gap after the repeat: $(cat "$work/out")"
grep -q "^instrument room: .* NOT continuous: 1 missing in gaps (0 of them recorded overruns), 1 repeated$" "$work/out" || fail "room totals"
grep -q "^instrument slow: .*, sequence continuous across the files$" "$work/out" || fail "slow untouched"

# bad lists: exit 2 naming the files
expect_exit 0 "second recording" "$PD_CLI" run "$cfg" -o "$work/b"
other=$(ls "$work/b"/run-*-002.h5)
expect_exit 2 "files of two runs" "$PD_CLI" inspect "${files[0]}" "$other"
grep -q "is a file of run .*: one recording at a time" "$work/err" || fail "two runs: $(cat "$work/err")"
expect_exit 2 "a file given twice" "$PD_CLI" inspect "${files[0]}" "${files[1]}" "$work/alt/$(basename "${files[1]}")"
grep -q "are both file 2 of run" "$work/err" || fail "twice: $(cat "$work/err")"
echo "not a run" >"$work/junk.h5"
expect_exit 2 "a file that is no run" "$PD_CLI" inspect "${files[0]}" "$work/junk.h5"
grep -q "junk.h5" "$work/err" || fail "junk: $(cat "$work/err")"
expect_exit 2 "a prefix matching nothing" "$PD_CLI" inspect "$work/a/run-nothing"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "inspect_recording_test: all checks passed"
