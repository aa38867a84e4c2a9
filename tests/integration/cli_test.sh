#!/usr/bin/env bash
# cli_test.sh — the thin path through the real programs on loopback: `polydaq run` starts the
# simulated load frame (polydaq-sim, Modbus TCP), writes the HDF5 run, `polydaq certify` checks it
# against the demo spec, an independent h5py/numpy script re-checks file and certificate; plus the
# CLI's exit codes and config errors naming file:line:column.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
PY=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_exit() { # code, description, command...
  local want=$1 what=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" -eq "$want" ] || { fail "$what: exit $got, expected $want"; cat "$work/err" >&2; }
}
expect_err() { # regex, description
  grep -Eq "$1" "$work/err" || { fail "$2: stderr does not match /$1/:"; cat "$work/err" >&2; }
}

cfg="$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml"

# --- CLI shape -------------------------------------------------------------------------------
expect_exit 0 "--help" "$PD_CLI" --help
grep -q "usage: polydaq" "$work/out" || fail "--help prints usage"
expect_exit 0 "--version" "$PD_CLI" --version
grep -Eq '^polydaq [0-9]+\.[0-9]+\.[0-9]+$' "$work/out" || fail "--version format"
for sub in run certify inspect demo approve registry; do
  expect_exit 0 "$sub --help" "$PD_CLI" "$sub" --help
  grep -q "usage: polydaq $sub" "$work/out" || fail "$sub --help prints its usage"
done
expect_exit 2 "no command" "$PD_CLI"
expect_exit 2 "unknown command" "$PD_CLI" frobnicate
expect_err "unknown command 'frobnicate'" "unknown command message"
expect_exit 2 "run without config" "$PD_CLI" run
expect_err "missing CONFIG.yaml" "run without config message"
expect_exit 2 "run with bad option" "$PD_CLI" run --bogus "$cfg"
expect_exit 2 "certify without --spec" "$PD_CLI" certify x.h5
expect_err "missing --spec" "certify without --spec message"
expect_exit 2 "registry without subcommand" "$PD_CLI" registry
expect_exit 2 "registry unknown subcommand" "$PD_CLI" registry frobnicate
expect_exit 2 "registry check of a folder without one" "$PD_CLI" registry check "$work"
expect_err "no certificate registry here .*registry init" "registry check names what to do"
expect_exit 2 "registry init without a lab key" "$PD_CLI" registry init "$work/reg"
expect_err "issuing key: .*lab-key LAB.pub" "registry init names the missing lab key"
expect_exit 2 "registry init with a missing key file" "$PD_CLI" registry init "$work/reg" --lab-key "$work/nope.pub"
expect_err "nope.pub" "registry init names the missing key file"
expect_exit 2 "person add with another role" "$PD_CLI" registry person add --key x.pub --name X --role admin
expect_exit 2 "approve with a free-text name" "$PD_CLI" approve CERT-000001 --as "R. Viewer" --role reviewer
expect_err "registered owner of --key" "approve says names are gone"
expect_exit 2 "approve without a registry" "$PD_CLI" approve CERT-000001 -o "$work" --key x.key --role reviewer
expect_exit 2 "missing config file" "$PD_CLI" run "$work/nope.yaml"
expect_err "nope.yaml.*(No such file|cannot)" "missing config file message"

# --- config errors name file:line:column ---------------------------------------------------------
sed 's/^    transport: tcp/    tranport: tcp/' "$cfg" >"$work/typo-key.yaml"
expect_exit 2 "unknown key" "$PD_CLI" run "$work/typo-key.yaml" -o "$work/x"
expect_err "typo-key\.yaml:28:5: .*unknown key 'tranport'.*transport" "unknown key names 28:5 and suggests"
sed 's|tcp://127.0.0.1:0|tcp://127.0.0.1:99999|' "$cfg" >"$work/bad-port.yaml"
expect_exit 2 "bad port" "$PD_CLI" run "$work/bad-port.yaml" -o "$work/x"
expect_err "bad-port\.yaml:28:16: .*port" "bad port names 28:16"
sed 's/poll_rate_hz: 500/poll_rate_hz: fast/' "$cfg" >"$work/bad-type.yaml"
expect_exit 2 "wrong type" "$PD_CLI" run "$work/bad-type.yaml" -o "$work/x"
expect_err "bad-type\.yaml:11:17: .*number" "wrong type names 11:17"
sed 's/specimens: 5/specimens: [5]/' "$cfg" >"$work/bad-kind.yaml"
expect_exit 2 "sequence for a number" "$PD_CLI" run "$work/bad-kind.yaml" -o "$work/x"
expect_err "bad-kind\.yaml:9:14: " "sequence for a number names 9:14"
if [ -d "$work/x" ] && [ -n "$(ls -A "$work/x")" ]; then fail "a refused config must not leave run files"; fi

# --- the thin path -------------------------------------------------------------------------------
expect_exit 0 "run" "$PD_CLI" run "$cfg" -o "$work/runs"
run_file=$(head -n1 "$work/out")
[ -f "$run_file" ] || fail "run prints the path of its HDF5 file (got '$run_file')"
expect_err "5/5 specimens tested" "run summary"
expect_exit 0 "inspect" "$PD_CLI" inspect "$run_file"
grep -q "closed *cleanly" "$work/out" || fail "inspect says the file was closed cleanly"
grep -Eq "specimen 5 .*status: tested" "$work/out" || fail "inspect lists specimen 5 as tested"
expect_exit 0 "certify" "$PD_CLI" certify "$run_file" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$work/certs"
cert_file=$(head -n1 "$work/out")
[ -f "$cert_file" ] || fail "certify prints the certificate path (got '$cert_file')"
# pp-demo in firmware/loadframe/core is configured with E = 1500 MPa
"$PY" "$PD_SOURCE_DIR/tests/integration/check_run.py" "$run_file" "$cert_file" 1500 || fail "h5py/numpy check"

# a spec the run cannot meet → exit 1
sed 's/min: 1400, max: 1600/min: 1700, max: 1800/' "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" >"$work/strict.yaml"
expect_exit 1 "certify against a spec not met" "$PD_CLI" certify "$run_file" --spec "$work/strict.yaml" -o "$work/certs2"
# a file that is not a run → exit 2
echo "not hdf5" >"$work/garbage.h5"
expect_exit 2 "certify garbage" "$PD_CLI" certify "$work/garbage.h5" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml"
expect_err "garbage\.h5" "garbage file named in message"
expect_exit 2 "inspect garbage" "$PD_CLI" inspect "$work/garbage.h5"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "cli_test: all checks passed"
