# lib.sh — sourced by the integration scripts: a work folder, the array `pids` of what they started
# (on exit every one of those is stopped and the folder removed), and the failure counter with
# `fail` and `expect_exit` that the scripts report through. For the scripts that drive a live
# `polydaq run` by signals: `run_pid` and `wait_for_run_file`.
work=$(mktemp -d)
pids=()
# The one background `polydaq run` a script drives by signals, while it is not yet reaped (the
# script clears it after `wait`). On exit it is killed with SIGKILL, not stopped like `pids`: it
# may be stalled on purpose, or already in the clean stop a signal began.
run_pid=
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then kill -9 "$run_pid"; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_exit() { # code, description, command...
  local want=$1 what=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" -eq "$want" ] || { fail "$what: exit $got, expected $want"; cat "$work/out" "$work/err" >&2; }
}
wait_for_run_file() { # dir → prints the run file once it exists (within 10 s)
  for _ in $(seq 100); do
    local f
    f=$(ls "$1"/run-*.h5 2>/dev/null | head -n1)
    [ -n "$f" ] && { echo "$f"; return 0; }
    sleep 0.1
  done
  return 1
}
