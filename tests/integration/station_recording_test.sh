#!/usr/bin/env bash
# station_recording_test.sh — a monitoring run (method record) started and watched from the lab
# server's station (station_recording.py): the simulated climate chamber of config/station-demo.yaml
# over plain HTTP and its SSE stream, every point checked against the run file (h5py), a second start
# on the busy chamber 409, the technician's page in headless Chromium (axes time [s] / temperature
# [°C], no dimension form, no start), the stop, and the ended series' replay after a restart.
# Exit 77 (skip) only when Chromium is installed but cannot start here.
set -u
for p in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$p" ] || { echo "FAIL: $p missing (tools/dev installs chromium and chromium-driver)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import selenium, jsonschema, yaml, h5py, numpy' 2>/dev/null ||
  { echo "FAIL: python3-selenium, -jsonschema, -yaml, -h5py or -numpy missing (tools/dev installs them)" >&2; exit 1; }
export PD_SOURCE_DIR="${PD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec /usr/bin/python3 "$(dirname "$0")/station_recording.py" "$@"
