#!/usr/bin/env bash
# station_pair_test.sh — two test stations at once (station_pair.py): two ISO 527 series on the two
# simulated frames of config/station-demo.yaml driven side by side over HTTP, their event streams,
# run files and certificates checked (h5py, numpy, `polydaq certify`), a reviewer's pages in
# headless Chromium, and each ended series' curves replayed from its run file after a server
# restart. Exit 77 (skip) only when Chromium is installed but cannot start here.
set -u
for p in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$p" ] || { echo "FAIL: $p missing (tools/dev installs chromium and chromium-driver)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import selenium, jsonschema, yaml, h5py, numpy' 2>/dev/null ||
  { echo "FAIL: python3-selenium, -jsonschema, -yaml, -h5py or -numpy missing (tools/dev installs them)" >&2; exit 1; }
export PD_SOURCE_DIR="${PD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec /usr/bin/python3 "$(dirname "$0")/station_pair.py" "$@"
