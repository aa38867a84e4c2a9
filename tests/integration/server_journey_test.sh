#!/usr/bin/env bash
# server_journey_test.sh — a test request's whole journey in headless Chromium (server_journey.py):
# request, acceptance, items, a simulator's run uploaded and linked, certified, reviewed and
# authorized by two people with their personal keys, the member notified through a local SMTP sink
# (python3-aiosmtpd), its PDF downloaded and its QR code read; another member sees none of it.
# `--screenshots DIR` writes the pages. Exit 77 only when Chromium cannot start here.
set -u
for p in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$p" ] || { echo "FAIL: $p missing (tools/dev installs chromium and chromium-driver)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import selenium, jsonschema, yaml, aiosmtpd' 2>/dev/null ||
  { echo "FAIL: python3-selenium, -jsonschema, -yaml or -aiosmtpd missing (tools/dev installs them)" >&2; exit 1; }
command -v pdftotext >/dev/null || { echo "FAIL: poppler-utils missing (tools/dev installs it)" >&2; exit 1; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_journey.py "$@"
