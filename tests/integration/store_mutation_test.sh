#!/usr/bin/env bash
# store_mutation_test.sh — the seeded mutation test of every command that reads run files: ~150
# mutants (bit flips, byte runs set to 0x00/0xFF, truncations) of a run file closed cleanly and
# ~150 of one whose writer was killed (kill -9: the SWMR mark still set), each given to `polydaq
# inspect`, `export`, `certify` and `recover` (tests/integration/mutate_runs.py). No command may
# die by a signal or hang; every failure is exit 2 naming the file, with nothing left half-written.
# The seed is printed; PD_MUTATION_SEED repeats a run, PD_MUTANTS sets the count per file.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
CHECK="$PD_SOURCE_DIR/tests/integration/acq_check.py"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $run_pid, wait_for_run_file, fail; cleanup on exit

# --- a run file closed cleanly ------------------------------------------------------------------
expect_exit 0 "run" "$PD_CLI" run "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" -o "$work/runs"
plain=$(head -n1 "$work/out")

# --- a crashed one: the multi-instrument lab killed mid-run ------------------------------------
sed 's/--time-scale, "50"/--time-scale, "10"/' "$PD_SOURCE_DIR/tests/integration/data/acq-multi.yaml" >"$work/slow.yaml"
"$PD_CLI" run "$work/slow.yaml" -o "$work/crash" >"$work/run.out" 2>"$work/run.err" &
run_pid=$!
crashed=$(wait_for_run_file "$work/crash") || fail "no run file appeared"
"$PY" "$CHECK" grows "$crashed" specimen_01/frame1/time 3 || fail "the run writes samples"
sims=$(pgrep -P "$run_pid")
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
run_pid=
[ -n "$sims" ] && kill $sims 2>/dev/null
"$PY" - "$crashed" <<'PY' || fail "the killed run's file still has its SWMR mark (a plain h5py open refuses it)"
import sys, h5py
try:
    h5py.File(sys.argv[1], "r")
except OSError:
    sys.exit(0)
sys.exit(1)
PY
[ "$fails" -eq 0 ] || exit 1

seed=()
[ -n "${PD_MUTATION_SEED:-}" ] && seed=(--seed "$PD_MUTATION_SEED")
mkdir "$work/mutants"
"$PY" "$PD_SOURCE_DIR/tests/integration/mutate_runs.py" --cli "$PD_CLI" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" \
  --work "$work/mutants" --src "$PD_SOURCE_DIR/src" --count "${PD_MUTANTS:-150}" "${seed[@]}" plain="$plain" crashed="$crashed" ||
  fail "mutants of the run files crashed, hung or failed without exit 2 naming the file (above)"
[ "$fails" -eq 0 ] || exit 1
