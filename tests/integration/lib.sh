# lib.sh — sourced by integration scripts that start background processes: a work folder, and the
# array `pids` of what they started; on exit every one of those is stopped and the folder removed.
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
