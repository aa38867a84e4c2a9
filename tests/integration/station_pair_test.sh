#!/usr/bin/env bash
# station_pair_test.sh — two test stations at once (station_pair.py): two ISO 527 series on the two
# simulated frames of config/station-demo.yaml driven side by side over HTTP, their event streams,
# run files and certificates checked (h5py, numpy, `polydaq certify`), a reviewer's pages in
# headless Chromium, and each ended series' curves replayed from its run file after a server
# restart. Exit 77 (skip) only when Chromium is installed but cannot start here.
set -u
# shellcheck source=browser_prereqs.sh
source "$(dirname "$0")/browser_prereqs.sh"
need_browser jsonschema yaml h5py numpy
export PD_SOURCE_DIR="${PD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec /usr/bin/python3 "$(dirname "$0")/station_pair.py" "$@"
