#!/usr/bin/env bash
# serial_scan_test.sh — `polydaq scan`: the port list works without hardware; `--probe` finds the
# simulated balance on a pty (--pty auto) and on raw TCP by MT-SICS I4 and prints a section that
# `polydaq run` accepts as it is (pasted into a lab config beside the durometer); a port where
# nothing answers is reported and exits 3.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$PD_CLI" scan >"$work/list" 2>"$work/list.err" || fail "scan (list) failed: $(cat "$work/list.err")"
grep -q "/dev/pts/" "$work/list" && fail "scan lists ptys"

"$PD_SIM" balance --pty auto --serial SCAN-42 </dev/null >"$work/bal.out" 2>/dev/null &
pids+=($!)
"$PD_SIM" balance --tcp 127.0.0.1:0 --serial SCAN-43 </dev/null >"$work/baltcp.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do
  grep -q "^listening" "$work/bal.out" && grep -q "^listening" "$work/baltcp.out" && break
  sleep 0.05
done
pty=$(sed -n 's/^listening //p' "$work/bal.out")
tcp=$(sed -n 's/^listening //p' "$work/baltcp.out")
"$PD_CLI" scan --probe "$pty" "$tcp" >"$work/snippet" 2>"$work/probe.err" || fail "probe failed: $(cat "$work/probe.err")"
grep -q "serial: \"SCAN-42\"" "$work/snippet" || fail "pty probe: serial not in the snippet"
grep -q "transport: $pty" "$work/snippet" || fail "pty probe: transport not in the snippet"
grep -q "serial: \"SCAN-43\"" "$work/snippet" || fail "tcp probe: serial not in the snippet"

# paste the snippet into a lab config as it is
{ sed 's/specimens: 3/specimens: 1/' "$PD_SOURCE_DIR/config/shore.yaml"; cat "$work/snippet"; } >"$work/lab.yaml"
if "$PD_CLI" run "$work/lab.yaml" -o "$work/runs" -q >"$work/run.out" 2>"$work/run.err"; then
  /usr/bin/python3 - "$(tail -1 "$work/run.out")" <<'PYEOF' || fail "run with the pasted snippet: balance data missing"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
def serial(name):
    g = f["specimen_01/instrument/" + name]
    v = g["serial_number"][()] if "serial_number" in g else g.attrs.get("serial_number")
    return v.decode() if isinstance(v, bytes) else str(v)
assert serial("balance1") == "SCAN-42", serial("balance1")
assert serial("balance2") == "SCAN-43", serial("balance2")
PYEOF
else
  fail "polydaq run refused the pasted snippet"; cat "$work/run.err" >&2
fi

# nothing there
"$PD_CLI" scan --probe tcp-raw://127.0.0.1:1 --timeout 50 >"$work/none" 2>"$work/none.err"
[ $? -eq 3 ] || fail "probe of a dead address: exit code"
grep -q "no answer" "$work/none.err" || fail "probe of a dead address: message"

[ "$fails" -eq 0 ] && echo "serial_scan_test: all passed"
exit $((fails > 0))
