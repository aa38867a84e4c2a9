#!/usr/bin/env bash
# server_items_test.sh — items, label sheet, complaints and e-mail notices of the lab server over
# real HTTP with a local SMTP sink (server_items.py). Skipped (77) without Debian's python3 with
# jsonschema, yaml and aiosmtpd, or without poppler-utils.
set -u
/usr/bin/python3 -c 'import jsonschema, yaml, aiosmtpd' 2>/dev/null ||
  { echo "skip: python3-jsonschema/yaml/aiosmtpd missing"; exit 77; }
command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null || { echo "skip: poppler-utils missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 CLI missing"; exit 77; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_items.py
