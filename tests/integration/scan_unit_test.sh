#!/usr/bin/env bash
# scan_unit_test.sh — `polydaq scan --probe tcp://... --unit ID`: unit ids 0..255 over Modbus TCP
# (the chamber simulator, as many TCP devices, answers 0 and 255 besides its own id), 1..247 on a
# serial line; a device that does not answer to the unit asked is not reported as found (exit 3);
# a bad --unit, or a TCP-only unit id with a serial port, exits 2 naming the option and the port.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit
lib="$PD_SOURCE_DIR/config/instruments"

"$PD_SIM" chamber --tcp 127.0.0.1:0 --unit 200 --serial 77 </dev/null >"$work/sim.out" 2>"$work/sim.err" &
pids+=($!)
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/^listening //p' "$work/sim.out")
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "FAIL: the simulator did not announce itself: $(cat "$work/sim.err")" >&2; exit 1; }

for unit in 200 255 0; do
  expect_exit 0 "scan --unit $unit" "$PD_CLI" scan --probe "$addr" --unit "$unit" --library "$lib"
  grep -q "Modbus, unit $unit, slave id 67 \"polydaq TC-1 fw 0.1 SN 77\"" "$work/out" || fail "unit $unit: $(cat "$work/out")"
  grep -q "^    unit: $unit\$" "$work/out" || fail "unit $unit: the section's unit: $(cat "$work/out")"
done
# another unit id (1, and 248 which libmodbus alone would refuse to send over TCP): nobody answers
for unit in 1 248; do
  expect_exit 3 "scan --unit $unit (not the device's)" "$PD_CLI" scan --probe "$addr" --unit "$unit" --library "$lib" --timeout 200
  grep -q "no answer to Modbus report-slave-id" "$work/err" || fail "unit $unit: $(cat "$work/err")"
  [ ! -s "$work/out" ] || fail "unit $unit: a section printed: $(cat "$work/out")"
done

for bad in 256 -1 x 1.5 ""; do
  expect_exit 2 "scan --unit '$bad'" "$PD_CLI" scan --probe "$addr" --unit "$bad"
  grep -q "\-\-unit must be 0..255 (1..247 on a serial line), not '$bad'" "$work/err" || fail "unit '$bad': $(cat "$work/err")"
done
for unit in 0 248 255; do
  expect_exit 2 "scan --unit $unit on a serial port" "$PD_CLI" scan --probe "$addr" /dev/ttyS0 --unit "$unit"
  grep -q "\-\-unit $unit is for Modbus TCP only: /dev/ttyS0 is a serial line" "$work/err" || fail "$(cat "$work/err")"
  expect_exit 2 "scan --unit $unit on the listed ports" "$PD_CLI" scan --probe --unit "$unit"
  grep -q "\-\-unit $unit is for Modbus TCP only" "$work/err" || fail "$(cat "$work/err")"
done

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "scan_unit_test: all checks passed"
