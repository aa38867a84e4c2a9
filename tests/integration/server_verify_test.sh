#!/usr/bin/env bash
# server_verify_test.sh — public certificate verification on the lab server (server_verify.py):
# the QR code's address, the page and its JSON for issued, superseded and withdrawn certificates,
# drafts hidden, uploads checked, the published keys used offline, the limits, and the page in
# headless Chromium at phone width. `--screenshots DIR` writes the phone-width pages as PNG files.
# Exit 77 (skip) only when Chromium is installed but cannot start here; missing packages fail.
set -u
for p in /usr/bin/chromium /usr/bin/chromedriver /usr/bin/zbarimg /usr/bin/pdftoppm /usr/bin/pdftotext /usr/bin/curl \
  /usr/bin/sqlite3; do
  [ -x "$p" ] || { echo "FAIL: $p missing (tools/dev installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import selenium, jsonschema, yaml' 2>/dev/null ||
  { echo "FAIL: python3-selenium, python3-jsonschema or python3-yaml missing (tools/dev installs them)" >&2; exit 1; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_verify.py "$@"
