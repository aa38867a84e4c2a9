#!/usr/bin/env bash
# server_pages_test.sh — the lab server's item and complaint pages in a real browser: headless
# Chromium from Debian driven by Selenium (server_pages.py) against `polydaq serve` on loopback.
# `--screenshots DIR` also writes the pages as PNG files. Exit 77 (skip) only when Chromium is
# installed but cannot start here; missing packages fail.
set -u
for p in /usr/bin/chromium /usr/bin/chromedriver /usr/bin/pdftotext; do
  [ -x "$p" ] || { echo "FAIL: $p missing (tools/dev installs chromium, chromium-driver and poppler-utils)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import selenium, jsonschema, yaml' 2>/dev/null ||
  { echo "FAIL: python3-selenium, python3-jsonschema or python3-yaml missing (tools/dev installs them)" >&2; exit 1; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_pages.py "$@"
