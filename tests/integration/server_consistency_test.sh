#!/usr/bin/env bash
# server_consistency_test.sh — the lab server's certificates stay one in server.sqlite and the
# registry (server_consistency.py): simultaneous certify calls make one draft, a status the server
# failed to record is re-synced from the registry. Skipped (77) without Debian's python3 with
# jsonschema and yaml.
set -u
/usr/bin/python3 -c 'import jsonschema, yaml' 2>/dev/null || { echo "skip: python3-jsonschema/yaml missing"; exit 77; }
cd "$(dirname "$0")" && exec /usr/bin/python3 server_consistency.py
