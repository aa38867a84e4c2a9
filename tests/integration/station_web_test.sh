#!/usr/bin/env bash
# station_web_test.sh — the test station in a real browser: headless Chromium from Debian driven by
# Selenium (station_web.py) against `polydaq serve --lab config/station-demo.yaml`, whose series
# run as real `polydaq run --control` processes on the simulated frame and caliper, then the run
# file and `polydaq certify`'s certificate checked with h5py and numpy. `--screenshots DIR` also
# writes the station pages as PNG files. Exit 77 (skip) only when Chromium is installed but cannot
# start here; missing packages fail.
set -u
# shellcheck source=browser_prereqs.sh
source "$(dirname "$0")/browser_prereqs.sh"
need_browser jsonschema yaml h5py numpy
export PD_SOURCE_DIR="${PD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec /usr/bin/python3 "$(dirname "$0")/station_web.py" "$@"  # the screenshots folder stays relative to the caller
