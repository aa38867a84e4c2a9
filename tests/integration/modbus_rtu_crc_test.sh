#!/usr/bin/env bash
# modbus_rtu_crc_test.sh — garbled Modbus RTU replies on a serial line: `polydaq run` polls a
# simulated load frame over RTU 115200 8N1 through two socat pty pairs with a relay between them
# (rtu_corrupt_relay.py) that breaks the CRC of chosen replies.
#  1. every 40th poll reply and 4 poll replies in a row: the series must still finish (3/3
#     tested), every garbled reply must be counted (read_errors) and recorded as an "error" event
#     naming the CRC, the burst must give a "fault" and then a "reconnect", and no specimen may
#     lose its data: checked with h5py on the run file.
#  2. one reply to a setpoint write of specimen 2: a garbled answer is a line fault like any
#     other (the write itself reached the instrument), so the series must still finish (2/2)
#     with the error recorded.
#
#   polydaq ── A1 ═socat═ A2 ── relay ── B2 ═socat═ B1 ── polydaq-sim loadframe --rtu B1
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
PY=/usr/bin/python3
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, cleanup on exit
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
die() { fail "$*"; for f in "$work"/*.err; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }

# pty_pair NAME: starts socat with two linked ptys and sets NAME_1 and NAME_2 to their paths.
pty_pair() {
  local name=$1 log="$work/socat-$1.err"
  socat -d -d pty,raw,echo=0 pty,raw,echo=0 2>"$log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    [ "$(grep -c 'PTY is /dev/' "$log")" -ge 2 ] && break
    sleep 0.02
  done
  local paths
  mapfile -t paths < <(grep -o 'PTY is /dev/[^ ]*' "$log" | cut -d' ' -f3)
  [ "${#paths[@]}" -eq 2 ] || die "socat pair $name did not announce two ptys"
  printf -v "${name}_1" '%s' "${paths[0]}"
  printf -v "${name}_2" '%s' "${paths[1]}"
}

# wait_line FILE REGEX PID: waits (up to 5 s) until FILE has a line matching REGEX while PID lives.
wait_line() {
  for _ in $(seq 1 250); do
    grep -Eq "$2" "$1" && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

pty_pair A
pty_pair B

"$PD_SIM" loadframe --rtu "$B_1" --baud 115200 --parity N --stop-bits 1 --material pp-demo --seed 7 \
  --time-scale 25 >"$work/sim.out" 2>"$work/sim.err" &
pids+=($!)
wait_line "$work/sim.out" "^listening rtu:$B_1\$" $! || die "simulator did not announce rtu:$B_1"

# start_relay NAME RELAY-OPTIONS...: the relay between A2 and B2, counting into $work/NAME.count.
relay_pid=""
start_relay() {
  local name=$1
  shift
  "$PY" "$PD_SOURCE_DIR/tests/integration/rtu_corrupt_relay.py" --master "$A_2" --slave "$B_2" \
    --count-file "$work/$name.count" "$@" >"$work/$name-relay.out" 2>"$work/$name-relay.err" &
  relay_pid=$!
  pids+=("$relay_pid")
  wait_line "$work/$name-relay.out" "^relaying " "$relay_pid" || die "relay $name did not start"
}

# stop_relay NAME: stops the relay (the run is over: no reply is on its way) and sets garbled to
# the number of replies it garbled.
garbled=0
stop_relay() {
  kill "$relay_pid" 2>/dev/null
  wait "$relay_pid" 2>/dev/null
  cat "$work/$1-relay.err" >&2
  garbled=$(cat "$work/$1.count" 2>/dev/null)
  garbled=${garbled:-0}
}

# The integration lab's load frame (tests/integration/data/fast-tensile.yaml) on the serial line,
# no simulator section. A short response timeout: after a garbled reply the driver waits that long
# for the line to fall quiet, so each one costs ~0.1 s of polling; the simulated clock runs 25×
# (not 50× as in fast-tensile) so a specimen lasts ~2 s and keeps well over 100 samples through
# that even on a loaded machine. The poll rate is what the pty chain (two socats, the relay's 2 ms
# frame gap, the slave's 1.75 ms RTU gap) can about keep.
cat >"$work/lab.yaml" <<EOF
lab:
  name: Integration Test Lab
  operator: ctest

run:
  method: iso527
  specimens: 3
  material: pp-demo (simulated)
  poll_rate_hz: 200
  specimen_timeout_s: 10

specimen:
  width: 10.0
  thickness: 4.0
  gauge_length: 75.0
  grip_distance: 115.0

method:
  speed_modulus: 1.0
  speed_test: 50.0
  speed_switch_strain: 0.003

instruments:
  - name: frame1
    driver: modbus
    transport: rtu:$A_1
    baud: 115200
    parity: none
    data_bits: 8
    stop_bits: 1
    unit: 1
    address_base: 0
    response_timeout_ms: 100
    model: polydaq load-frame bridge LF-1
    calibration: {date: 2026-06-01, due: 2027-06-01, certificate: TEST-CAL-1}
    channels:
      - {name: force,     table: input, address: 4, type: float32, order: ABCD, unit: N}
      - {name: extension, table: input, address: 6, type: float32, order: ABCD, unit: mm}
      - {name: crosshead, table: input, address: 8, type: float32, order: ABCD, unit: mm}
      - {name: break,     table: input, address: 1, type: bit, bit: 0}
    controls:
      - {name: start,               table: holding, address: 0, type: uint16, value: 1}
      - {name: stop,                table: holding, address: 0, type: uint16, value: 2}
      - {name: return,              table: holding, address: 0, type: uint16, value: 3}
      - {name: speed_modulus,       table: holding, address: 2, type: float32}
      - {name: speed_test,          table: holding, address: 4, type: float32}
      - {name: speed_switch_strain, table: holding, address: 6, type: float32}
      - {name: width,               table: holding, address: 8, type: float32}
      - {name: thickness,           table: holding, address: 10, type: float32}
      - {name: gauge_length,        table: holding, address: 12, type: float32}
      - {name: grip_distance,       table: holding, address: 14, type: float32}
EOF

# run_series NAME: `polydaq run` of the lab; sets run_file to the path it printed (or "").
run_file=""
run_series() {
  "$PD_CLI" run "$work/lab.yaml" -o "$work/$1" -q >"$work/$1.out" 2>"$work/$1.err" &
  pids+=("$!") # in the background, so an interrupted test stops it too
  wait "$!"
  local rc=$?
  [ "$rc" -eq 0 ] || { fail "$1: polydaq run exit $rc (expected 0)"; cat "$work/$1.err" >&2; }
  run_file=$(head -n1 "$work/$1.out")
}

# --- 1. garbled poll replies: every 40th, and 4 in a row at poll reply 330 (specimen 2) ---------
every=40
burst_at=330
burst=4
start_relay polls --every "$every" --burst-at "$burst_at" --burst "$burst"
run_series polls
stop_relay polls
[ -f "$run_file" ] || die "polls: no run file (got '$run_file')"
[ "$garbled" -ge $((burst + 5)) ] || fail "the relay garbled only $garbled replies (run too short?)"

"$PY" - "$run_file" "$garbled" "$burst" <<'PYEOF' || fail "h5py checks"
import re
import sys

import h5py
import numpy as np

path, garbled, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bad = []


def check(cond, what):
    if not cond:
        bad.append(what)


def events(group):
    out = []
    if "events" not in group:
        return out
    for row in group["events"][...]:
        kind = row["kind"].decode() if isinstance(row["kind"], bytes) else row["kind"]
        text = row["text"].decode() if isinstance(row["text"], bytes) else row["text"]
        out.append((int(row["time"]), kind, text))
    return out


with h5py.File(path, "r") as f:
    a = f.attrs
    check(int(a["closed_cleanly"]) == 1, "run file not closed cleanly")
    check(int(a["specimens_tested"]) == 3, f"specimens_tested = {a['specimens_tested']}, expected 3")
    read_errors = int(a["read_errors"])
    check(read_errors >= garbled, f"read_errors = {read_errors} < {garbled} replies garbled by the relay")
    check(int(a["samples_lost"]) == 0, f"samples_lost = {a['samples_lost']}")

    specimens = sorted(k for k in f if k.startswith("specimen_"))
    check(len(specimens) == 3, f"specimen groups {specimens}")
    allev = events(f) + [e for k in specimens for e in events(f[k])]
    allev.sort()
    errors = [(t, x) for t, k, x in allev if k == "error"]
    crc = [(t, x) for t, x in errors if re.search(r"CRC", x, re.I)]
    check(crc, f"no 'error' event names the CRC: {errors[:3]}")
    check(all(re.search(r"frame1", x) and re.search(r"protocol error", x) for _, x in crc),
          f"CRC error events do not name the instrument and the protocol error: {crc[:2]}")
    faults = [(t, x) for t, k, x in allev if k == "fault"]
    reconnects = [t for t, k, _ in allev if k == "reconnect"]
    check(faults, "no 'fault' event for the burst of garbled replies")
    check(any(re.search(r"CRC", x, re.I) for _, x in faults), f"the fault does not name the CRC: {faults}")
    check(reconnects and faults and min(reconnects) > min(t for t, _ in faults),
          f"no 'reconnect' after the fault: faults {faults}, reconnects {reconnects}")
    # a garbled reply alone is flushed and the next poll goes on; only 3 in a row reopen the link
    check(len(faults) == 1, f"{len(faults)} faults, expected 1 (the burst): {faults}")
    check(len(reconnects) == len(faults), f"{len(faults)} faults but {len(reconnects)} reconnects")
    # every garbled reply outside the burst is one "error" event (repeats in a row are counted, not
    # logged again)
    check(len(crc) >= garbled - burst, f"{len(crc)} CRC error events for {garbled} garbled replies")
    check(not [k for _, k, _ in allev if k == "failed"], "a 'failed' event: the instrument was given up")
    t_fault = min(t for t, _ in faults) if faults else np.iinfo(np.int64).max

    for name in specimens:
        g = f[name]
        status = g["status"][()]
        status = (status.decode() if isinstance(status, bytes) else str(status)).rstrip("\x00 ")
        check(status == "tested", f"{name}: status {status}")
        t = g["frame1"]["time"][...]
        check(len(t) > 100, f"{name}: only {len(t)} samples")
        check(len(t) > 1 and np.all(np.diff(t) > 0), f"{name}: timestamps do not strictly increase")
        for ch in ("force", "extension", "crosshead", "break"):
            check(g["frame1"][ch].shape[0] == len(t), f"{name}: {ch} has not one value per timestamp")
        # before the burst only single polls failed: the line is drained (one 100 ms response
        # timeout of silence) and polling resumes, so no stretch of data is missing (the bound
        # leaves room for a timeout on a loaded machine, not for a reconnect)
        before = t[t < t_fault]
        if len(before) > 1:
            gap_ms = float(np.max(np.diff(before))) / 1e6
            check(gap_ms < 400, f"{name}: a {gap_ms:.0f} ms hole in the data before the fault")
        force = g["frame1"]["force"][...]
        check(np.all(np.isfinite(force)), f"{name}: a force value is not finite (a garbled frame taken?)")
    print(f"ok: {garbled} garbled replies, read_errors {read_errors}, {len(errors)} error events "
          f"({len(crc)} naming the CRC), {len(faults)} fault/{len(reconnects)} reconnect, samples "
          + ", ".join(str(len(f[k]['frame1']['time'])) for k in specimens))

for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF

# --- 2. one garbled reply to a command: the 11th write is specimen 2's second setpoint ----------
# (specimen 1: 7 setpoints, start, return; specimen 2: width, thickness, ...); two specimens do.
sed -i 's/^  specimens: 3$/  specimens: 2/' "$work/lab.yaml"
start_relay write --every 0 --garble-write 11
run_series write
stop_relay write
[ "$garbled" -eq 1 ] || fail "write: the relay garbled $garbled replies, expected 1"
if [ -f "$run_file" ]; then
  "$PY" - "$run_file" <<'PYEOF' || fail "write: h5py checks"
import re
import sys

import h5py

with h5py.File(sys.argv[1], "r") as f:
    a = f.attrs
    texts = []
    for g in [f] + [f[k] for k in f if k.startswith("specimen_")]:
        for row in g["events"][...]:
            texts.append((row["kind"].decode(), row["text"].decode()))
    bad = []
    if int(a["closed_cleanly"]) != 1:
        bad.append("run file not closed cleanly")
    if int(a["specimens_tested"]) != 2:
        bad.append(f"specimens_tested = {a['specimens_tested']} after one garbled reply to a setpoint "
                   f"write (outcome: {a['outcome']})")
    if not any(k in ("error", "fault") and re.search(r"control .*CRC", x) for k, x in texts):
        bad.append(f"no error/fault event names the control and the CRC: {texts}")
    for b in bad:
        print("FAIL: write:", b, file=sys.stderr)
    sys.exit(1 if bad else 0)
PYEOF
else
  fail "write: no run file (got '$run_file')"
fi

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "modbus_rtu_crc_test: all checks passed"
