#!/usr/bin/env bash
# acq_outcome_test.sh — how a run ends, seen from outside with real processes: the outcome in the
# run file and on stderr, and the exit status, for a healthy run (read_errors 0, unmapped optional
# controls named once), instruments that answer but never with data (a mistyped register on the
# simulator; scripted peers, tests/integration/acq_peer.py, answering only with exceptions, busy,
# closing the connection at every request, or never answering), specimens that all time out, and
# SIGINT/SIGTERM once (interrupted, 130/143, file closed with the specimens so far). Last, a second
# SIGINT and a SIGKILL of `polydaq run` must leave no simulator running or listening.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}" "${PD_SIM:?}"
PY=/usr/bin/python3
work=$(mktemp -d)
run_pid=
sims=()
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then kill -9 "$run_pid"; fi
  # whatever a failed check may have left (the checks below expect nothing here)
  for p in "${sims[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
cp "$PD_SOURCE_DIR/tests/integration/acq_peer.py" "$work/peer.py"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The fast integration lab (a specimen takes about 1 s) with short failure timeouts.
# lab NAME SPECIMENS [sed expressions...] → $work/NAME.yaml
lab() {
  local name=$1 n=$2
  shift 2
  sed -e "s/specimens: 5/specimens: $n/" \
      -e 's/specimen_timeout_s: 60/specimen_timeout_s: 60\n  no_data_timeout_s: 2\n  reconnect_timeout_s: 3/' \
      -e 's/response_timeout_ms: 1000/response_timeout_ms: 200/' \
      "$@" "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" >"$work/$name.yaml"
}
# peer_lab MODE: the lab with the scripted peer in place of the simulator
peer_lab() {
  lab "peer-$1" 2 -e "s|program: polydaq-sim|program: $PY|" \
      -e "s|args: \[loadframe.*|args: [$work/peer.py, $1, $work/peer-$1.json]|"
}
# run_lab NAME [env...]: runs it in the foreground; exit status in $rc, the file in $run_file
run_lab() {
  local name=$1
  shift
  env "$@" "$PD_CLI" run "$work/$name.yaml" -o "$work/runs-$name" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
  run_file=$(head -n1 "$work/$name.out")
}
# attrs FILE: the run's outcome attributes and /acquisition/frame1 as JSON on stdout
attrs() {
  "$PY" - "$1" <<'PY'
import json, sys, h5py
def plain(v):
    return v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v)
with h5py.File(sys.argv[1], "r") as f:
    run = {k: plain(v) for k, v in f.attrs.items() if k != "config_text"}
    acq = {k: plain(v) for k, v in f["acquisition/frame1"].attrs.items()}
    status = [plain(f[g]["status"][()]).rstrip("\0 ") for g in sorted(f) if g.startswith("specimen_")]
    kinds = [plain(r["kind"]) for r in f["events"][...]]
    texts = [plain(r["text"]) for r in f["events"][...]]
print(json.dumps({"run": run, "acq": acq, "status": status, "events": kinds, "texts": texts}))
PY
}
# check NAME PYTHON-EXPRESSION...: each expression over a (the attrs JSON), c (peer counts) is true
check() {
  local name=$1
  shift
  attrs "$run_file" >"$work/$name.json" || { fail "$name: cannot read $run_file"; return; }
  "$PY" - "$work/$name.json" "$work/$name-counts.json" "$name" "$@" <<'PY' || fail "$name: file checks"
import json, os, sys
a = json.load(open(sys.argv[1]))
c = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else {}
bad = [e for e in sys.argv[4:] if not eval(e)]
for e in bad:
    print("FAIL: %s: %s\n  run: %s\n  acq: %s\n  peer: %s" % (sys.argv[3], e, a["run"].get("outcome_reason"), a["acq"], c),
          file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# --- a healthy run with optional controls missing from the map ------------------------------------
lab healthy 2 -e '/name: speed_modulus,/d' -e '/name: grip_distance,/d' -e '/name: return,/d'
run_lab healthy
[ "$rc" -eq 0 ] || { fail "healthy run: exit $rc, expected 0"; cat "$work/healthy.err" >&2; }
grep -q "outcome completed: all 2 specimens tested" "$work/healthy.err" || fail "healthy: outcome on stderr"
for ctl in speed_modulus grip_distance return; do
  n=$(grep "optional controls not in its map" "$work/healthy.err" | grep -c "\b$ctl\b")
  [ "$n" -eq 1 ] || fail "healthy: control $ctl named $n times as not mapped, expected once"
done
grep "optional controls not in its map" "$work/healthy.err" | grep -Eq "\b(width|speed_test|start)\b" &&
  fail "healthy: a mapped control named as not mapped"
check healthy 'a["run"]["outcome"] == "completed"' 'a["run"]["read_errors"] == 0' 'a["acq"]["read_errors"] == 0' \
  'a["run"]["specimens_tested"] == 2 == a["run"]["specimens_planned"]' 'a["run"]["interrupted"] == 0' \
  'a["status"] == ["tested", "tested"]' '"unmapped_controls" in a["events"]' \
  'a["acq"]["link_busy_failed"] == 0 and a["acq"]["link_timeouts"] == 0' \
  'a["run"]["closed_cleanly"] == 1'

# --- a mistyped register: the simulator answers every read of it with exception 02 ----------------
# The other channels are read (their block answers), so readings flow with force NaN marked unread
# (drivers/modbus); the channel silent for no_data_timeout_s (2 s) fails the run long before the
# five specimens (about 1 s each) could end it "completed".
lab mistyped 5 -e 's/name: force,     table: input, address: 4,/name: force,     table: input, address: 4000,/'
grep -q "address: 4000" "$work/mistyped.yaml" || fail "mistyped: config not changed"
run_lab mistyped
[ "$rc" -eq 3 ] || { fail "mistyped register: exit $rc, expected 3"; cat "$work/mistyped.err" >&2; }
grep -Eq "^polydaq: frame1: no sample for .*input registers 4000" "$work/mistyped.err" ||
  { fail "mistyped: stderr does not name the instrument and register"; cat "$work/mistyped.err" >&2; }
check mistyped 'a["run"]["outcome"] == "failed"' '"frame1" in a["run"]["outcome_reason"]' \
  '"4000" in a["run"]["outcome_reason"]' '"channel force" in a["run"]["outcome_reason"]' \
  'a["run"]["specimens_tested"] < 5' 'a["run"]["closed_cleanly"] == 1' \
  'a["acq"]["link_unread_blocks"] > 0' 'a["acq"]["link_exception_02"] > 0'

# --- scripted peers: answers, but never data -------------------------------------------------------
# The peer's own count of what it sent (written when polydaq stops it) is checked against the link
# counters the driver kept.
for mode in reads-fail exception busy close silent; do
  peer_lab "$mode"
  run_lab "peer-$mode"
  [ "$rc" -eq 3 ] || { fail "peer $mode: exit $rc, expected 3"; cat "$work/peer-$mode.err" >&2; }
  grep -q "^polydaq: frame1" "$work/peer-$mode.err" || fail "peer $mode: stderr names no instrument"
  grep -q "outcome failed" "$work/peer-$mode.err" || fail "peer $mode: stderr has no outcome"
  [ -f "$work/peer-$mode.json" ] || fail "peer $mode: the peer was not stopped by SIGTERM (no counts)"
done
run_file=$(head -n1 "$work/peer-reads-fail.out")
cp "$work/peer-reads-fail.json" "$work/reads-fail-counts.json" 2>/dev/null
check reads-fail 'a["run"]["outcome"] == "failed"' 'a["run"]["outcome_reason"].startswith("frame1: no sample for")' \
  '"input registers" in a["run"]["outcome_reason"] and "exception 2" in a["run"]["outcome_reason"]' \
  'a["acq"]["link_exception_02"] == c["exceptions"]["2"]' 'a["acq"]["link_requests"] == sum(c["requests"].values())' \
  'a["acq"]["readings"] == 0' 'a["run"]["closed_cleanly"] == 1'
run_file=$(head -n1 "$work/peer-exception.out")
cp "$work/peer-exception.json" "$work/exception-counts.json" 2>/dev/null
check exception 'a["run"]["outcome"] == "failed"' '"exception 4" in a["run"]["outcome_reason"]' \
  '"frame1" in a["run"]["outcome_reason"] and "holding register" in a["run"]["outcome_reason"]' \
  'a["acq"]["link_exception_04"] == c["exceptions"]["4"]'
run_file=$(head -n1 "$work/peer-busy.out")
cp "$work/peer-busy.json" "$work/busy-counts.json" 2>/dev/null
# every request the driver gave up on was answered busy 1 + busy_retries (default 3) times
check busy 'a["run"]["outcome"] == "failed"' '"exception 6" in a["run"]["outcome_reason"]' \
  'a["acq"]["link_busy_failed"] >= 1' 'a["acq"]["link_busy_failed"] * 4 == c["exceptions"]["6"]' \
  'a["acq"]["link_busy_retries"] + a["acq"]["link_busy_failed"] == c["exceptions"]["6"]'
for mode in close silent; do
  run_file=$(head -n1 "$work/peer-$mode.out")
  if [ -f "$run_file" ]; then
    check "$mode" 'a["run"]["outcome"] == "failed"' '"frame1" in a["run"]["outcome_reason"]' \
      'a["run"]["closed_cleanly"] == 1' 'a["acq"]["readings"] == 0'
  fi
done

# --- every specimen times out: incomplete ----------------------------------------------------------
lab timeouts 2 -e 's/specimen_timeout_s: 60/specimen_timeout_s: 1/' -e 's/--time-scale, "50"/--time-scale, "1"/'
run_lab timeouts
[ "$rc" -eq 3 ] || { fail "timeouts: exit $rc, expected 3"; cat "$work/timeouts.err" >&2; }
grep -q "outcome incomplete: 0 of 2 specimens tested" "$work/timeouts.err" || fail "timeouts: outcome on stderr"
check timeouts 'a["run"]["outcome"] == "incomplete"' \
  '"specimen 1: timeout" in a["run"]["outcome_reason"] and "specimen 2: timeout" in a["run"]["outcome_reason"]' \
  'a["run"]["read_errors"] == 0' 'a["acq"]["readings"] > 0' 'a["status"] == ["timeout", "timeout"]'

# --- signals --------------------------------------------------------------------------------------
# A fixed, unique port for the simulator, so it can be found by its command line.
# start_bg NAME [env...]: the run in the background; $run_pid, and $sim_pid once the sim is up
start_bg() {
  local name=$1
  shift
  port=$(free_port)
  lab "$name" 5 -e "s|tcp://127.0.0.1:0|tcp://127.0.0.1:$port|"
  env "$@" "$PD_CLI" run "$work/$name.yaml" -o "$work/runs-$name" >"$work/$name.out" 2>"$work/$name.err" &
  run_pid=$!
  sim_pid=
  for _ in $(seq 200); do
    sim_pid=$(pgrep -f -P "$run_pid" "127.0.0.1:$port")
    [ -n "$sim_pid" ] && break
    sleep 0.02
  done
  [ -n "$sim_pid" ] && sims+=("$sim_pid") || fail "$name: no simulator child found"
}
wait_specimen() { # NAME K: until the progress line of specimen K is out
  for _ in $(seq 300); do grep -q "specimen $2/5" "$work/$1.err" && return 0; sleep 0.02; done
  fail "$1: specimen $2 did not finish"
}
# no_sim NAME: the simulator is gone (no process, not even a zombie left unreaped for long) and
# nothing listens on its port any more
no_sim() {
  local gone=
  for _ in $(seq 100); do
    if ! pgrep -f "127.0.0.1:$port" >/dev/null && { [ ! -e "/proc/$sim_pid" ] ||
         [ "$(awk '{print $3}' "/proc/$sim_pid/stat" 2>/dev/null)" = Z ]; }; then gone=1; break; fi
    sleep 0.05
  done
  [ -n "$gone" ] || { fail "$1: simulator $sim_pid still running"; ps -o pid,ppid,stat,args -p "$sim_pid" >&2; }
  "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null &&
    fail "$1: something still listens on port $port"
}

for sig in INT TERM; do
  start_bg "sig$sig"
  wait_specimen "sig$sig" 1
  kill "-$sig" "$run_pid"
  wait "$run_pid"
  rc=$?
  run_pid=
  want=$([ "$sig" = INT ] && echo 130 || echo 143)
  [ "$rc" -eq "$want" ] || { fail "SIG$sig once: exit $rc, expected $want"; cat "$work/sig$sig.err" >&2; }
  grep -Eq "outcome interrupted: stopped on request by SIG$sig after [1-4] of 5 specimens tested" "$work/sig$sig.err" ||
    { fail "SIG$sig: outcome on stderr"; cat "$work/sig$sig.err" >&2; }
  run_file=$(head -n1 "$work/sig$sig.out")
  check "sig$sig" 'a["run"]["outcome"] == "interrupted"' 'a["run"]["interrupted"] == 1' 'a["run"]["closed_cleanly"] == 1' \
    '1 <= a["run"]["specimens_tested"] < 5' 'a["status"].count("tested") == a["run"]["specimens_tested"]' \
    "\"SIG$sig\" in a[\"run\"][\"outcome_reason\"]" 'a["run"]["read_errors"] == 0'
  "$PY" "$PD_SOURCE_DIR/tests/integration/acq_check.py" accounting "$run_file" --plain --clean 1 ||
    fail "SIG$sig: accounting of the specimens so far"
  no_sim "SIG$sig once"
done

# Twice: the second SIGINT ends polydaq at once (the writer is held up, so the clean stop the first
# asked for is still going on): the kernel must kill the simulator.
start_bg int2 POLYDAQ_TEST_WRITER_STALL_MS=8000
for _ in $(seq 200); do grep -q "the writer stalls" "$work/int2.err" && break; sleep 0.05; done
grep -q "the writer stalls" "$work/int2.err" || fail "int2: the writer stall hook did not engage"
kill -INT "$run_pid"
sleep 0.3
kill -0 "$run_pid" 2>/dev/null || fail "int2: the clean stop did not wait for the stalled writer"
kill -INT "$run_pid"
wait "$run_pid"
rc=$?
run_pid=
[ "$rc" -eq 130 ] || fail "second SIGINT: exit $rc, expected 130"
no_sim "SIGINT twice"

start_bg kill9
wait_specimen kill9 1
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
run_pid=
no_sim "SIGKILL"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "acq_outcome_test: all checks passed"
