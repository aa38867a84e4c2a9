#!/usr/bin/env bash
# server_web_test.sh — the lab server's web interface in a real browser: headless Chromium from
# Debian driven by Selenium (server_web.py) against `polydaq serve` on loopback, after the static
# file checks over plain HTTP. `--screenshots DIR` also writes the main pages as PNG files.
# Exit 77 (skip) only when Chromium is installed but cannot start here; missing packages fail.
set -u
# shellcheck source=browser_prereqs.sh
source "$(dirname "$0")/browser_prereqs.sh"
need_browser jsonschema yaml
cd "$(dirname "$0")" && exec /usr/bin/python3 server_web.py "$@"
