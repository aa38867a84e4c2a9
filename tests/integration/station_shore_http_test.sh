#!/usr/bin/env bash
# station_shore_http_test.sh — an ISO 868 Shore series started and driven from the lab server's
# station (station_shore_http.py): the simulated durometer of config/station-demo.yaml over plain
# HTTP and its SSE stream, every point checked against the run file (h5py), a second start on the
# busy durometer 409, specimen 2 marked invalid, `polydaq certify` with a Shore A spec (each
# specimen's own readings, numpy), and the ended series' replay after a restart.
set -u
/usr/bin/python3 -c 'import jsonschema, yaml, h5py, numpy' 2>/dev/null ||
  { echo "FAIL: python3-jsonschema, -yaml, -h5py or -numpy missing (tools/dev installs them)" >&2; exit 1; }
export PD_SOURCE_DIR="${PD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec /usr/bin/python3 "$(dirname "$0")/station_shore_http.py" "$@"
