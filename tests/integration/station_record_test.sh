#!/usr/bin/env bash
# station_record_test.sh — a monitoring run driven from a station (docs/STATION.md "A recording"):
# the simulated climate chamber of config/record-chamber.yaml (recording until stopped, polled at
# 10 Hz) run with --control; station_record.py drives it over the real socket, once stopped
# (completed) and once aborted (interrupted), and checks every point against the run file (h5py).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit; cleanup on exit
PY=/usr/bin/python3
"$PY" -c 'import numpy, h5py' 2>/dev/null || { echo "station_record_test: no numpy/h5py for $PY: skipped"; exit 77; }
export PYTHONPATH="$PD_SOURCE_DIR/tests/integration"

sed -e 's/^  poll_rate_hz: 2$/  poll_rate_hz: 10/' -e 's/^  duration: 604800 .*/  duration: 0/' \
  "$PD_SOURCE_DIR/config/record-chamber.yaml" >"$work/chamber.yaml"
grep -q "poll_rate_hz: 10" "$work/chamber.yaml" && grep -q "duration: 0" "$work/chamber.yaml" || fail "chamber config"
mkdir -m 700 "$work/stations"

for how in stop abort; do
  "$PY" "$PD_SOURCE_DIR/tests/integration/station_record.py" "$PD_CLI" "$work/chamber.yaml" "$work/runs-$how" \
    "$work/stations/$how.sock" "$how" >"$work/$how.out" || { fail "the recording, $how"; cat "$work/runs-$how-run.log" >&2; }
  grep -E "Sanitizer|runtime error" "$work/runs-$how-run.log" && fail "sanitizer report in the $how run's log"
done

[ "$fails" -eq 0 ] || exit 1
echo "station_record_test: passed"
