#!/usr/bin/env bash
# acq_record_configs_test.sh — the example monitoring configs run as shipped, only shortened (two
# hours of recording in hourly files, the recording clock as the configs set it): the conditioning
# room (config/record-room.yaml) records temperature and relative humidity of the chamber
# simulator, with alarm bands on both; the room's humidity is made to start outside its band, so
# the humidity alarm and its all-clear are seen. The temperature chamber (config/record-chamber.yaml)
# warms to 70 degC: its alarm, then the all-clear once the air is in 69..71, against the data.
# The on_alarm hook: a script appending its argv and POLYDAQ_* variables to a file runs once per
# alarm change with what the events say; a per-alarm on_alarm replaces the run's; a program that
# cannot be started, one that exits 3 and one that hangs (killed after on_alarm_timeout) are
# run events while the recording goes on without a gap; bad on_alarm sections exit 2 naming
# file:line:column.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py/numpy"; exit 77; }
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit

# short ROOM/CHAMBER config: $DUR s recorded (default 2 h), hourly files, 10 Hz, then any extra sed
# expressions
shorten() {
  local src=$1 dst=$2
  shift 2
  sed -e "s/^  duration: .*/  duration: ${DUR:-7200}/" -e 's/^  rollover: .*/  rollover: 3600/' \
    -e 's/^  poll_rate_hz: .*/  poll_rate_hz: 10/' "$@" "$src" >"$dst"
}

cat >"$work/hook.sh" <<'SH'
#!/bin/sh
# appends one line per call: argv, then what polydaq says about the alarm
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$*" "$POLYDAQ_RUN_ID" "$POLYDAQ_ALARM_CHANNEL" \
  "$POLYDAQ_ALARM_INSTRUMENT" "$POLYDAQ_ALARM_STATE" "$POLYDAQ_ALARM_VALUE" "$POLYDAQ_ALARM_LOW" \
  "$POLYDAQ_ALARM_HIGH" "$POLYDAQ_ALARM_BAND" "$POLYDAQ_ALARM_TIME" "$POLYDAQ_ALARM_TIME_NS" >>"$HOOK_LOG"
SH
chmod +x "$work/hook.sh"
export HOOK_LOG="$work/hook.log"

# --- the conditioning room: temperature + humidity, the humidity starting at 20 % RH -------------
# The simulator's clock runs from its start, 1000 recording seconds a second, so the first sample
# comes some hundred recording seconds in (more under ASan on a loaded machine). With 20 % RH and a
# time constant of 1200 s the humidity is below its band (40) for the first 1318 s, 1.3 s real: at
# 35 % and 600 s it had been 243 s, and a slow start could miss the alarm altogether.
ROOM_RH='s/--rh-tau, "3600"/--rh-tau, "1200", --rh-ambient, "20"/'
shorten "$PD_SOURCE_DIR/config/record-room.yaml" "$work/room.yaml" \
  -e "$ROOM_RH" \
  -e "s|^  # on_alarm: .*|  on_alarm: [$work/hook.sh, room-alarm, \"two words\"]|"
expect_exit 0 "room recording" "$PD_CLI" run "$work/room.yaml" -o "$work/room"
mapfile -t files < <(ls "$work/room"/run-*.h5 | sort)
[ "${#files[@]}" -eq 2 ] || fail "room: ${#files[@]} files, expected 2 (hourly, 2 h)"
grep -q "alarm: humidity = .*outside its band 40..60" "$work/err" || fail "room: humidity alarm line: $(cat "$work/err")"
"$PY" - "$HOOK_LOG" "${files[@]}" <<'PY' || fail "room: channels, humidity alarms and the hook against the data"
import sys, h5py, numpy as np
log, files = sys.argv[1], sys.argv[2:]
fs = [h5py.File(p, "r") for p in files]
g = lambda name: np.concatenate([f["specimen_01/room1/" + name][:] for f in fs])
temp, rh, t = g("temperature"), g("humidity"), g("time")
assert fs[0]["specimen_01/room1/humidity"].attrs["units"] in (b"%RH", "%RH")
assert np.all((temp > 22) & (temp < 24)), (temp.min(), temp.max())  # the room at 23 degC
assert rh[0] < 40 and rh[-1] > 45 and np.all((rh >= 0) & (rh <= 100)), (rh[0], rh[-1])
ev = [(e["kind"].decode(), e["text"].decode(), int(e["time"])) for f in fs for e in f["specimen_01/events"][:]]
changes = [(k, x, tt) for k, x, tt in ev if k in ("alarm", "alarm_cleared")]
assert [k for k, _, _ in changes][:2] == ["alarm", "alarm_cleared"], changes
assert all("humidity" in x for _, x, _ in changes), changes  # the temperature stayed in 21..25
hooks = [(k, x) for k, x, _ in ev if k.startswith("alarm_hook")]
assert len(hooks) == len(changes) and all(k == "alarm_hook" and "exited with status 0" in x for k, x in hooks), hooks
lines = [l.rstrip("\n").split("|") for l in open(log)]
assert len(lines) == len(changes), (lines, changes)
run_id = fs[0].attrs["run_id"]
run_id = run_id.decode() if isinstance(run_id, bytes) else run_id
for (kind, text, _), l in zip(changes, lines):
    argv, rid, chan, inst, state, value, low, high, band, iso, tns = l
    assert argv == "room-alarm two words", argv  # argv as configured, no shell splitting
    assert rid == run_id and chan == "room1.humidity" and inst == "room1", l
    assert state == ("alarm" if kind == "alarm" else "cleared"), (state, kind)
    assert (low, high, band) == ("40", "60", "40..60"), l
    assert float(value) == float(text.split("= ")[1].split(",")[0]), (value, text)
    # the value is a recorded reading, at the time the hook was given
    k = np.flatnonzero(t == int(tns))
    assert len(k) == 1 and abs(rh[k[0]] - float(value)) < 1e-6, (tns, value)
    assert iso.startswith("20") and iso.endswith("Z"), iso
print("room ok:", len(temp), "samples,", len(changes), "alarm changes")
PY

# --- the temperature chamber at 70 degC: alarm while warming up, all-clear in the band -------------
shorten "$PD_SOURCE_DIR/config/record-chamber.yaml" "$work/chamber.yaml"
expect_exit 0 "chamber recording" "$PD_CLI" run "$work/chamber.yaml" -o "$work/chamber"
mapfile -t files < <(ls "$work/chamber"/run-*.h5 | sort)
[ "${#files[@]}" -eq 2 ] || fail "chamber: ${#files[@]} files, expected 2"
"$PY" - "${files[@]}" <<'PY' || fail "chamber: warm-up alarm and all-clear against the data"
import re, sys, h5py, numpy as np
fs = [h5py.File(p, "r") for p in sys.argv[1:]]
temp = np.concatenate([f["specimen_01/chamber2/temperature"][:] for f in fs])
for ch in ("output", "status", "humidity"):
    assert len(np.concatenate([f["specimen_01/chamber2/" + ch][:] for f in fs])) == len(temp)
ev = [(e["kind"].decode(), e["text"].decode()) for f in fs for e in f["specimen_01/events"][:]]
alarms = [x for k, x in ev if k == "alarm"]
clears = [x for k, x in ev if k == "alarm_cleared"]
assert alarms and clears, ev
val = lambda x: float(re.search(r"= (\S+),", x).group(1))
# the warm-up alarm: on a recorded reading below the band. How far the warm-up has got by the first
# sample depends on how fast polydaq started (25-32 degC under ASan, four runs at once), and the
# alarm may judge a later reading than the first (a late turn judges only the newest one).
assert temp[0] < 69 and val(alarms[0]) < 69 and np.any(np.isclose(temp, val(alarms[0]), atol=1e-4)), (temp[0], alarms[0])
first_in = int(np.argmax((temp >= 69) & (temp <= 71)))
assert 69 <= val(clears[0]) <= 71 and np.any(np.isclose(temp[first_in:], val(clears[0]), atol=1e-4))
assert abs(np.median(temp[-10:]) - 70) < 0.2, temp[-10:]  # the last recorded hour: settled
print("chamber ok:", len(temp), "samples")
PY

# --- hooks that fail: not startable, exit 3, hanging (killed); a per-alarm hook replaces the run's --
rm -f "$HOOK_LOG"
cat >"$work/hang.sh" <<'SH'
#!/bin/sh
echo "$$" >>"$HOOK_LOG.hang"
exec sleep 300
SH
chmod +x "$work/hang.sh"
DUR=3000 shorten "$PD_SOURCE_DIR/config/record-room.yaml" "$work/fail.yaml" \
  -e "$ROOM_RH" \
  -e "s|^  # on_alarm: .*|  on_alarm: [$work/hang.sh]\n  on_alarm_timeout: 0.5|" \
  -e "s|{channel: temperature, low: 21, high: 25}|{channel: temperature, low: 23.5, high: 25, on_alarm: [$work/no-such-program]}|"
"$PD_CLI" run "$work/fail.yaml" -o "$work/fail" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "failing hooks: exit $rc (a hook never fails the run)"; cat "$work/err" >&2; }
mapfile -t files < <(ls "$work/fail"/run-*.h5 | sort)
"$PY" - "${files[@]}" <<'PY' || fail "failing hooks: events, and the recording went on"
import sys, h5py, numpy as np
fs = [h5py.File(p, "r") for p in sys.argv[1:]]
ev = [(e["kind"].decode(), e["text"].decode(), int(e["time"])) for f in fs for e in f["specimen_01/events"][:]]
failed = [(x, tt) for k, x, tt in ev if k == "alarm_hook_failed"]
nostart = [x for x, _ in failed if "no-such-program" in x and "cannot be started: No such file or directory" in x]
killed = [(x, tt) for x, tt in failed if "hang.sh" in x and "did not end within 0.5 s: killed" in x]
assert nostart, failed   # the temperature alarm's own hook (room at 23 degC: below 23.5)
assert killed, failed    # the run's hook for the humidity alarm hangs
assert not any("hang.sh" in x and "temperature" in x for x, _ in failed), "a per-alarm hook replaces the run's"
seq = np.concatenate([f["specimen_01/room1/sequence"][:] for f in fs])
t = np.concatenate([f["specimen_01/room1/time"][:] for f in fs])
assert np.array_equal(seq, np.arange(len(seq))), "recording not continuous"
# samples were taken while the hung hook ran (between its alarm and the kill)
alarm_t = min(tt for k, x, tt in ev if k == "alarm" and "humidity" in x)
kill_t = killed[0][1]
assert np.count_nonzero((t > alarm_t) & (t < kill_t)) >= 2, (alarm_t, kill_t)
print("failing hooks ok:", len(failed), "failure events")
PY
while read -r p; do # every hung hook was killed: none left running
  kill -0 "$p" 2>/dev/null && { fail "hung hook $p still running"; kill -9 "$p"; }
done <"$HOOK_LOG.hang"
cat >"$work/exit3.yaml" <<EOF2
$(sed -e "s|^  on_alarm: .*|  on_alarm: [sh, -c, \"exit 3\"]|" -e '/on_alarm_timeout/d' \
  -e 's/, on_alarm: \[[^]]*\]//' "$work/fail.yaml")
EOF2
expect_exit 0 "hook exiting 3" "$PD_CLI" run "$work/exit3.yaml" -o "$work/exit3"
grep -q "on_alarm 'sh' for room1.humidity alarm exited with status 3" "$work/err" || fail "exit 3 warning: $(cat "$work/err")"

# --- bad on_alarm sections: exit 2, file:line:column --------------------------------------------
for bad in "on_alarm: []" "on_alarm: notify" "on_alarm: [\"\"]" "on_alarm: [[a, b]]" "on_alarm_timeout: 0"; do
  shorten "$PD_SOURCE_DIR/config/record-room.yaml" "$work/bad.yaml" -e "s|^  # on_alarm: .*|  $bad|"
  expect_exit 2 "bad '$bad'" "$PD_CLI" run "$work/bad.yaml" -o "$work/bad"
  grep -Eq "bad.yaml:[0-9]+:[0-9]+: .*on_alarm" "$work/err" || fail "'$bad': $(cat "$work/err")"
  [ ! -e "$work/bad" ] || [ -z "$(ls "$work/bad")" ] || fail "'$bad': a file was written"
done

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "acq_record_configs_test: all checks passed"
