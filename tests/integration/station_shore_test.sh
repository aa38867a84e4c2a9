#!/usr/bin/env bash
# station_shore_test.sh — an ISO 868 Shore series driven from a station (docs/STATION.md "A Shore
# series"): config/shore.yaml's simulated durometer with dimensions asked per specimen and a
# simulated caliper (station-demo.yaml's caliper1) added; station_shore.py drives it over the real
# socket, once through three specimens (typed, caliper, invalid, stop) and once aborted (after a wait
# longer than its no-data timeout: a regression), and checks
# every point, thickness and mark against the run file (h5py).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, fail, expect_exit; cleanup on exit
PY=/usr/bin/python3
"$PY" -c 'import numpy, h5py' 2>/dev/null || { echo "station_shore_test: no numpy/h5py for $PY: skipped"; exit 77; }
export PYTHONPATH="$PD_SOURCE_DIR/tests/integration"

# the thickness asked per specimen, the caliper that can measure it
"$PY" - "$PD_SOURCE_DIR" "$work/shore.yaml" <<'PYEOF' || fail "shore config"
import re, sys
src, out = sys.argv[1:3]
text = open(src + "/config/shore.yaml").read()
line = "  thickness: 6.0       # mm (stack of 3 x 2 mm plates)\n"
assert line in text
text = text.replace(line, line + "  dimensions: prompt\n  caliper: caliper1\n")
caliper = re.search(r"  - name: caliper1\n(?:    .*\n)+", open(src + "/config/station-demo.yaml").read())
open(out, "w").write(text.rstrip("\n") + "\n" + caliper.group(0))
PYEOF
mkdir -m 700 "$work/stations"
# the aborted series waits 2.5 s for its first thickness: longer than its no-data timeout
sed 's/^  specimen_timeout_s: 60$/&\n  no_data_timeout_s: 1/' "$work/shore.yaml" >"$work/shore-abort.yaml"
grep -q "no_data_timeout_s: 1" "$work/shore-abort.yaml" || fail "abort config"

for how in full abort; do
  cfg="$work/shore.yaml"
  [ "$how" = abort ] && cfg="$work/shore-abort.yaml"
  "$PY" "$PD_SOURCE_DIR/tests/integration/station_shore.py" "$PD_CLI" "$cfg" "$work/runs-$how" \
    "$work/stations/$how.sock" "$how" >"$work/$how.out" || { fail "the Shore series, $how"; cat "$work/runs-$how-run.log" >&2; }
  grep -E "Sanitizer|runtime error" "$work/runs-$how-run.log" && fail "sanitizer report in the $how run's log"
done

[ "$fails" -eq 0 ] || exit 1
echo "station_shore_test: passed"
