#!/usr/bin/env bash
# server_journey_test.sh — a test request's whole journey in headless Chromium (server_journey.py):
# request, acceptance, items, a simulator's run uploaded and linked, certified, reviewed and
# authorized by two people with their personal keys, the member notified through a local SMTP sink
# (python3-aiosmtpd), its PDF downloaded and its QR code read; another member sees none of it.
# `--screenshots DIR` writes the pages. Exit 77 only when Chromium cannot start here.
set -u
# shellcheck source=browser_prereqs.sh
source "$(dirname "$0")/browser_prereqs.sh"
need_browser jsonschema yaml aiosmtpd
command -v pdftotext >/dev/null || { echo "FAIL: poppler-utils missing (tools/dev installs it)" >&2; exit 1; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_journey.py "$@"
