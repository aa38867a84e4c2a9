#!/usr/bin/env bash
# server_certs_test.sh — runs, certificates and personal signing keys on the lab server over real
# HTTP (server_certs.py). Skipped (77) without Debian's python3 with jsonschema, yaml and
# cryptography, or without the sqlite3 CLI or poppler-utils.
set -u
/usr/bin/python3 -c 'import jsonschema, yaml, cryptography' 2>/dev/null ||
  { echo "skip: python3-jsonschema/yaml/cryptography missing"; exit 77; }
command -v pdftotext >/dev/null || { echo "skip: poppler-utils missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 CLI missing"; exit 77; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_certs.py
