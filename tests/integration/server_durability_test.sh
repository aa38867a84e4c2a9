#!/usr/bin/env bash
# server_durability_test.sh — concurrent decisions and kill -9 against a real `polydaq serve`
# (server_durability.py); skipped (77) without Debian's python3 with jsonschema and yaml, or sqlite3.
set -u
/usr/bin/python3 -c 'import jsonschema, yaml' 2>/dev/null || { echo "skip: python3-jsonschema/yaml missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 missing"; exit 77; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_durability.py
