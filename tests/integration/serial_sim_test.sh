#!/usr/bin/env bash
# serial_sim_test.sh — the serial-line instruments end to end through the real programs: the
# Shore (iso868) and melt-flow (iso1133) example configs from `polydaq run` to HDF5 files; the same
# drivers on socat pty pairs and on a `--pty auto` pty; fault switches (corrupt, drop, endless
# line, stall, disconnect) counted, logged with instrument and port, the run completing; a pty
# that vanishes mid-run stopping the run cleanly with the file closed and its data kept; simulators
# started by `polydaq run` on a pty (`--pty auto`, `--rtu auto`) when the configured transport is a
# serial port; simulators started by hand and reached without a `simulator:` section still marking
# the run simulated (from their identity answers). The cases are independent (each has its own
# simulators and ptys) and run in parallel.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
PY=/usr/bin/python3
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, cleanup on exit
# cases run in background subshells, so failures are counted in a file, not a variable
fail() { echo "FAIL: $*" >&2; echo "$*" >>"$work/failures"; }

# h5 FILE SPECIMENS CHANNEL MIN_PER_SPECIMEN [ATTR=VALUE...]: the run file has that many tested
# specimens, each with at least MIN samples of CHANNEL, and the root attributes given.
check_h5() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py
path, nspec, channel, nmin = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
f = h5py.File(path, "r")
a = f["/"].attrs
assert int(a["closed_cleanly"]) == 1, "not closed cleanly"
assert int(a["specimens_tested"]) == nspec, f"specimens_tested {a['specimens_tested']}"
for k in range(1, nspec + 1):
    g = f[f"specimen_{k:02d}"]
    found = [n for n in g if isinstance(g[n], h5py.Group) and channel in g[n]]
    assert found, f"no {channel} in specimen {k}"
    d = g[found[0]][channel]
    assert d.shape[0] >= nmin, f"specimen {k}: {d.shape[0]} samples of {channel}"
for kv in sys.argv[5:]:
    key, op, val = kv.partition(">") if ">" in kv else kv.partition("=")
    got = a[key]
    got = got.decode() if isinstance(got, bytes) else got
    if op == ">":
        assert float(got) > float(val), f"{key} = {got}, expected > {val}"
    else:
        assert str(got) == val, f"{key} = {got}, expected {val}"
PYEOF
}

# all_simulated FILE INSTRUMENT...: each instrument's group says simulated = 1 and every sample of it
# carries the simulated quality bit (4)
all_simulated() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for name in sys.argv[2:]:
    assert int(f["specimen_01/instrument/" + name].attrs["simulated"]) == 1, name + ": simulated != 1"
    q = f["specimen_01/" + name + "/quality"][...]
    assert all(int(v) & 4 for v in q), name + ": a sample without the simulated bit"
PYEOF
}

# events_match FILE REGEX: some event text of the run matches
events_match() {
  "$PY" - "$1" "$2" <<'PYEOF'
import sys, re, h5py
f = h5py.File(sys.argv[1], "r")
texts = []
def walk(name, obj):
    if isinstance(obj, h5py.Dataset) and name.endswith("events"):
        for e in obj[...]:
            texts.append(" ".join(x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in e))
f.visititems(walk)
sys.exit(0 if any(re.search(sys.argv[2], t) for t in texts) else 1)
PYEOF
}

run_ok() { # name config
  local name=$1 cfg=$2
  if ! "$PD_CLI" run "$cfg" -o "$work/$name" -q >"$work/$name.out" 2>"$work/$name.err"; then
    fail "$name: polydaq run failed"; cat "$work/$name.err" >&2; return 1
  fi
  ls "$work/$name"/run-*.h5 2>/dev/null | head -1
}

# A fast melt-flow config: 1 s cut-offs, 3 per charge, balance pieces every second.
fast_mfr() {
  sed -e 's/cut_interval: 5 /cut_interval: 1 /' -e 's/cuts: 5 /cuts: 3 /' -e 's/preheat: 2 /preheat: 0.5 /' \
      -e 's/specimens: 2/specimens: 1/' \
      -e 's/--pieces, "0.06775,0.004", --period, "5"/--pieces, "0.01355,0.004", --period, "1"/' \
      "$PD_SOURCE_DIR/config/mfr.yaml"
}

# --- the example configs as shipped (simulators on raw TCP) ---------------------------------------
case_shore() {
  local f
  f=$(run_ok shore "$PD_SOURCE_DIR/config/shore.yaml") && {
    check_h5 "$f" 3 hardness 5 method=iso868 read_errors=0 || fail "shore: file check"
    events_match "$f" "reading 5: .* at a dwell of 15.00 s" || fail "shore: reading events"
  }
}
case_mfr() {
  local f
  fast_mfr >"$work/mfr.yaml"
  f=$(run_ok mfr "$work/mfr.yaml") && {
    check_h5 "$f" 1 mass 3 method=iso1133 read_errors=0 || fail "mfr: file check"
    check_h5 "$f" 1 piston 5 || fail "mfr: piston samples"
    events_match "$f" "cut-off 2 at test time" || fail "mfr: cut-off events"
    events_match "$f" "piece 3: 0\.01" || fail "mfr: weighing events"
  }
}

# --- fault switches on raw TCP: every fault is counted and logged with instrument and port; the
# run completes (timeouts/garbage are retried, lost links reconnected) ------------------------------
fault_run() { # name, balance faults, mfi faults, regex that must be in stderr
  local name=$1 bf=$2 mf=$3 want=$4
  fast_mfr | sed -e "s/--serial, B123456789\]/--serial, B123456789, --fault, \"$bf\"]/" \
                 -e "s/--charge-drop, \"0.4\"\]/--charge-drop, \"0.4\", --fault, \"$mf\"]/" >"$work/$name.yaml"
  grep -q -- "--fault" "$work/$name.yaml" || { fail "$name: fault switch not in the config"; return; }
  local f
  f=$("$PD_CLI" run "$work/$name.yaml" -o "$work/$name" -q -v 2>"$work/$name.err" | tail -1)
  if [ -z "$f" ] || [ ! -f "$f" ]; then fail "$name: no run file"; cat "$work/$name.err" >&2; return; fi
  check_h5 "$f" 1 mass 3 "read_errors>0" || fail "$name: file check"
  grep -Eq "$want" "$work/$name.err" || { fail "$name: stderr lacks /$want/"; tail -20 "$work/$name.err" >&2; }
}
case_disconnect() {
  fault_run disconnect "disconnect-after=8" "disconnect-after=20" "balance1 \(tcp-raw://127\.0\.0\.1:[0-9]+\).*(closed|reconnect)"
  grep -Eq "reconnected|link restored" "$work/disconnect.err" || fail "disconnect: no reconnect logged"
}

# --- socat pty pairs: each simulator on one end, the driver on the other ---------------------------
pty_pair() { # sets PTY_A PTY_B PTY_PID (no subshell: the pid must stay ours to kill)
  local log="$work/socat.$1"
  socat -d -d pty,raw,echo=0 pty,raw,echo=0 </dev/null >/dev/null 2>"$log" &
  PTY_PID=$!
  pids+=("$PTY_PID")
  for _ in $(seq 50); do
    [ "$(grep -c 'PTY is' "$log")" -ge 2 ] && break
    sleep 0.05
  done
  PTY_A=$(grep -o '/dev/pts/[0-9]*' "$log" | sed -n 1p)
  PTY_B=$(grep -o '/dev/pts/[0-9]*' "$log" | sed -n 2p)
}

# configs without simulator sections, pointed at the ptys
strip_sim() { # config, then transport replacements in order of the instruments
  "$PY" - "$@" <<'PYEOF'
import sys, re
text = open(sys.argv[1]).read()
text = re.sub(r"\n    simulator:\n      program: .*\n      args: .*", "", text)
for t in sys.argv[2:]:
    text = text.replace("transport: tcp-raw://127.0.0.1:0", "transport: " + t, 1)
print(text, end="")
PYEOF
}
case_shore_pty() {
  local f
  strip_sim "$PD_SOURCE_DIR/config/shore.yaml" "$dB" | sed 's/specimens: 3/specimens: 1/' >"$work/shore-pty.yaml"
  f=$(run_ok shore-pty "$work/shore-pty.yaml") && { check_h5 "$f" 1 hardness 5 read_errors=0 simulated=1 &&
    all_simulated "$f" durometer1; } || fail "shore on a socat pty (no simulator section: simulated from the identity)"
}
case_mfr_pty() {
  local f
  fast_mfr >"$work/mfr-tcp.yaml"
  strip_sim "$work/mfr-tcp.yaml" "$mB" "$bauto" >"$work/mfr-pty.yaml"
  f=$(run_ok mfr-pty "$work/mfr-pty.yaml") && { check_h5 "$f" 1 mass 3 read_errors=0 simulated=1 &&
    all_simulated "$f" mfi1 balance1; } || fail "mfr on ptys (no simulator sections: simulated from the identities)"
}

# --- a pty that vanishes mid-run (USB unplug): counted, logged with the port, the run stops cleanly
# after reconnect_timeout_s, the file is closed cleanly and keeps what was acquired ------------------
case_vanish() {
  strip_sim "$PD_SOURCE_DIR/config/shore.yaml" "$vB" |
    sed -e 's/specimens: 3/specimens: 20/' -e 's/specimen_timeout_s: 60/specimen_timeout_s: 60\n  reconnect_timeout_s: 1/' \
    >"$work/vanish.yaml"
  "$PD_CLI" run "$work/vanish.yaml" -o "$work/vanish" >"$work/vanish.out" 2>"$work/vanish.err" &
  local runpid=$! rc f
  # unplug once the progress shows the first specimen's readings (not a fixed time: ASan is slower)
  for _ in $(seq 300); do grep -q "^specimen .*count [1-9]" "$work/vanish.err" && break; sleep 0.05; done
  kill "$vpid" # socat ends: both ends of the pair disappear
  wait "$runpid"
  rc=$?
  [ "$rc" -eq 3 ] || fail "vanished pty: exit $rc, expected 3"
  grep -Eq "durometer1 \($vB\)" "$work/vanish.err" || { fail "vanished pty: no message naming durometer1 and $vB"; cat "$work/vanish.err" >&2; }
  f=$(ls "$work/vanish"/run-*.h5 2>/dev/null | head -1)
  if [ -n "$f" ]; then
    "$PY" - "$f" <<'PYEOF' || fail "vanished pty: file not clean or data lost"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert int(f["/"].attrs["closed_cleanly"]) == 1
assert f["specimen_01/durometer1/hardness"].shape[0] >= 1
PYEOF
  else
    fail "vanished pty: no run file"
  fi
}

# --- simulators started by `polydaq run` when the transport is a serial port: the durometer on a new
# pty (--pty auto), a load frame on a Modbus RTU pty (--rtu auto); the pty each announced is used ---
case_sim_pty() {
  "$PY" - "$PD_SOURCE_DIR" >"$work/sim-pty.yaml" <<'PYEOF'
import re, sys
src = sys.argv[1]
text = open(src + "/config/shore.yaml").read()
text = text.replace("specimens: 3", "specimens: 1").replace("readings: 5", "readings: 2")
text = text.replace("transport: tcp-raw://127.0.0.1:0", "transport: /dev/ttyUSB7", 1)
frame = re.sub(r"(?m)^#.*\n", "", open(src + "/config/instruments/loadframe.yaml").read())
frame = frame.replace("transport: tcp://127.0.0.1:0", "transport: rtu:/dev/ttyUSB8")
lines = frame.splitlines()
print(text + "".join(("  - " if i == 0 else "    ") + l + "\n" for i, l in enumerate(lines)), end="")
PYEOF
  local f
  f=$(run_ok sim-pty "$work/sim-pty.yaml") && {
    check_h5 "$f" 1 hardness 2 read_errors=0 || fail "simulators on ptys: file check"
    "$PY" - "$f" <<'PYEOF' || fail "simulators on ptys: not on the announced ptys"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
def attr(name, key):
    v = f["specimen_01/instrument/" + name].attrs[key]
    return v.decode() if isinstance(v, bytes) else str(v)
assert "\ntransport: /dev/pts/" in attr("durometer1", "map"), attr("durometer1", "map")
assert '\ntransport: "rtu:/dev/pts/' in attr("frame1", "map"), attr("frame1", "map")
assert attr("durometer1", "serial_number") == "D4711"
assert attr("frame1", "serial_number") == "1"   # read from the frame's identity registers over RTU
PYEOF
  }
}

pty_pair dur; dB=$PTY_B
"$PD_SIM" durometer --pty "$PTY_A" --time-scale 30 </dev/null >"$work/dur.out" 2>&1 &
pids+=($!)
pty_pair van; vB=$PTY_B vpid=$PTY_PID
"$PD_SIM" durometer --pty "$PTY_A" --time-scale 30 </dev/null >"$work/van.out" 2>&1 &
pids+=($!)
pty_pair mfi; mB=$PTY_B
"$PD_SIM" mfi --pty "$PTY_A" --charge-drop 0.4 </dev/null >"$work/mfi.out" 2>&1 &
pids+=($!)
"$PD_SIM" balance --pty auto --pieces 0.01355,0.004 --period 1 </dev/null >"$work/bal.out" 2>"$work/bal.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "^listening /dev/pts/" "$work/bal.out" && break; sleep 0.05; done
bauto=$(sed -n 's/^listening //p' "$work/bal.out")
[ -n "$bauto" ] || fail "balance --pty auto did not announce its pty"
echo "ptys: durometer $dB, vanishing durometer $vB, mfi $mB, balance $bauto"

# at most 4 cases at a time, the longest first: all at once would load 2 cores enough to upset
# timing-sensitive tests that ctest runs beside this one (100 ms Modbus timeouts under ASan)
running=()
run_case() {
  if [ "${#running[@]}" -ge 4 ]; then
    local done_pid still=() p
    wait -n -p done_pid "${running[@]}"
    for p in "${running[@]}"; do [ "$p" != "$done_pid" ] && still+=("$p"); done
    running=("${still[@]}")
  fi
  "$@" &
  running+=($!)
}
run_case case_shore
run_case case_vanish
run_case case_disconnect
run_case case_mfr
run_case fault_run corrupt "corrupt-every=5" "corrupt-every=7" "balance1 \(tcp-raw://127\.0\.0\.1:[0-9]+\): SI: .*unreadable"
run_case fault_run drop "drop-every=6" "off" "balance1 \(tcp-raw://127\.0\.0\.1:[0-9]+\): SI: .*(partial|no complete line)"
run_case fault_run endless "off" "endless-after=12" "mfi1 \(tcp-raw://127\.0\.0\.1:[0-9]+\): R\?: .*no line terminator"
run_case fault_run stall "off" "stall-after=15:1200" "mfi1 \(tcp-raw://127\.0\.0\.1:[0-9]+\): R\?: .*no complete line"
run_case case_shore_pty
run_case case_mfr_pty
run_case case_sim_pty
for c in "${running[@]}"; do wait "$c"; done

fails=$(cat "$work/failures" 2>/dev/null | wc -l)
[ "$fails" -eq 0 ] && echo "serial_sim_test: all passed"
exit $((fails > 0))
