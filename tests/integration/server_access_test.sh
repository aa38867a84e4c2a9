#!/usr/bin/env bash
# server_access_test.sh — the lab server's access matrix (docs/SERVER.md) over real HTTP against
# `polydaq serve` on loopback, every answer checked against docs/openapi.yaml (server_access.py).
# Skipped (77) without Debian's python3 with jsonschema and yaml.
set -u
/usr/bin/python3 -c 'import jsonschema, yaml' 2>/dev/null || { echo "skip: python3-jsonschema/yaml missing"; exit 77; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_access.py
