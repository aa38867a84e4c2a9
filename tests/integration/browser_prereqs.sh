# shellcheck shell=bash
# browser_prereqs.sh — sourced by the browser tests' wrappers: fails (exit 1, naming what is missing)
# when Debian's chromium, chromium-driver or a python module the test imports is not installed —
# tools/dev installs them all, so a missing one is a broken set-up, never a skip. (Exit 77 is left
# to the test itself, when Chromium is installed but cannot start here.)
need_browser() { # MODULE... (python3 modules the test imports besides selenium)
  local p m
  for p in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$p" ] || { echo "FAIL: $p missing (tools/dev installs chromium and chromium-driver)" >&2; exit 1; }
  done
  for m in selenium "$@"; do
    /usr/bin/python3 -c "import $m" 2>/dev/null ||
      { echo "FAIL: python module $m missing (tools/dev installs python3-$m)" >&2; exit 1; }
  done
}
