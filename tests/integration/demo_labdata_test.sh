#!/usr/bin/env bash
# demo_labdata_test.sh — `polydaq demo --lab-data DIR`, what `tools/dev demo` leaves for the demo lab
# server: the layout (certs/, runs/, public/), the passwords file (mode 0600, one line per account),
# the issued demo certificate's QR code leading to the given base URL with the registry's hash
# (zbarimg, sqlite3), then `polydaq serve --data DIR` as the README shows it: the verification page
# says valid, every demo account logs in with its printed password and has its role, the served
# keyring and revocation list verify the certificate offline (curl + polydaq verify). A second demo
# keeps the accounts; misuse (--url without --lab-data, a bad URL) is exit 2 with nothing made.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit; cleanup on exit
for t in zbarimg pdftoppm curl sqlite3; do
  command -v "$t" >/dev/null || { echo "FAIL: $t missing (tools/dev installs it)" >&2; exit 1; }
done
export PATH="$(dirname "$PD_CLI"):$PATH" # polydaq-sim beside polydaq

lab="$work/lab"
url="https://lab.example.org"
expect_exit 2 "--url without --lab-data" "$PD_CLI" demo -o "$work/demo" --url "$url"
expect_exit 2 "a bad --url" "$PD_CLI" demo -o "$work/demo" --lab-data "$lab" --url "ftp://x"
[ ! -e "$lab" ] && [ ! -e "$work/demo" ] || fail "refused demo made files"

expect_exit 0 "demo --lab-data" "$PD_CLI" demo -o "$work/demo" --lab-data "$lab" --url "$url" -q
cp "$work/out" "$work/demo.out"
for f in certs/registry.sqlite certs/CERT-000001.json certs/CERT-000001.pdf public/keyring.txt \
  public/revocations.json server.sqlite demo-passwords.txt; do
  [ -f "$lab/$f" ] || fail "demo --lab-data made no $f"
done
ls "$lab"/runs/run-*.h5 >/dev/null 2>&1 || fail "the run file is in runs/"
ls "$lab"/certs/*.key "$lab"/*.key "$lab"/public/*.key >/dev/null 2>&1 && fail "a secret key in the server's data"
[ "$(stat -c %a "$lab/demo-passwords.txt")" = 600 ] || fail "demo-passwords.txt is not mode 0600"
[ "$(grep -vc '^#' "$lab/demo-passwords.txt")" = 5 ] || fail "five demo accounts in demo-passwords.txt"
for role in member technician reviewer authorizer admin; do
  grep -q "^demo-$role [A-Za-z2-9]\{20\} $role\$" "$lab/demo-passwords.txt" || fail "no $role account in the file"
  grep -q "^demo account:  demo-$role " "$work/demo.out" || fail "the $role account is not printed"
done
grep -q "lab server:    polydaq serve --data $lab --listen 127.0.0.1:8080" "$work/demo.out" ||
  fail "demo prints the command that serves the data"

hash=$(sqlite3 "$lab/certs/registry.sqlite" "SELECT document_sha256 FROM certificates WHERE certificate_id = 'CERT-000001'")
status=$(sqlite3 "$lab/certs/registry.sqlite" "SELECT status FROM certificates WHERE certificate_id = 'CERT-000001'")
[ "$status" = issued ] || fail "the demo certificate is '$status' in the registry, not issued"
pdftoppm -r 150 -png "$lab/certs/CERT-000001.pdf" "$work/page" 2>/dev/null
qr=$(for p in "$work"/page*.png; do zbarimg -q --raw -Sdisable -Sqrcode.enable "$p" 2>/dev/null; done)
[ "$qr" = "$url/v/CERT-000001#$hash" ] || fail "the QR code says '$qr', expected $url/v/CERT-000001#$hash"

# Served as the README says (on a free port here).
"$PD_CLI" serve --data "$lab" --listen 127.0.0.1:0 2>"$work/serve.err" >/dev/null &
pids+=($!)
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.err" | head -n1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { fail "serve did not start: $(cat "$work/serve.err")"; exit 1; }
base="http://127.0.0.1:$port"
page=$(curl -sS "$base/v/CERT-000001")
grep -q 'data-status="issued">Issued and valid' <<<"$page" || fail "the demo certificate's page does not say valid"
grep -q "$hash" <<<"$page" || fail "the page shows the registry's hash"
while read -r login password role; do
  [ "${login:0:1}" = "#" ] && continue
  answer=$(curl -sS -H 'Content-Type: application/json' -d "{\"login\":\"$login\",\"password\":\"$password\"}" \
    -o "$work/login.json" -w '%{http_code}' "$base/api/v1/session")
  [ "$answer" = 201 ] || fail "$login cannot log in with its printed password ($answer)"
  grep -q "\"role\":\"$role\"" "$work/login.json" || fail "$login is not a $role"
done <"$lab/demo-passwords.txt"
grep -q '"member_name":"Demo Polymers GmbH"' <(curl -sS -H 'Content-Type: application/json' \
  -d "{\"login\":\"demo-member\",\"password\":\"$(awk '$1 == "demo-member" {print $2}' "$lab/demo-passwords.txt")\"}" \
  "$base/api/v1/session") || fail "the demo member belongs to Demo Polymers GmbH"
curl -sSf -o "$work/keyring.txt" "$base/keys/keyring.txt" || fail "keyring.txt not served"
curl -sSf -o "$work/revocations.json" "$base/keys/revocations.json" || fail "revocations.json not served"
mkdir -p "$work/customer" && cp "$lab/certs/CERT-000001.json" "$work/customer/"
expect_exit 0 "offline verify with the served keys" "$PD_CLI" verify "$work/customer/CERT-000001.json" \
  --keyring "$work/keyring.txt" --revocations "$work/revocations.json"
kill "${pids[0]}"
wait "${pids[0]}" || fail "serve exit status after SIGTERM"
pids=()

# Again into the same data: the accounts (and their passwords) stay, the new certificate is issued.
cp "$lab/demo-passwords.txt" "$work/passwords.before"
expect_exit 0 "demo --lab-data again" "$PD_CLI" demo -o "$work/demo" --lab-data "$lab" --url "$url" -q
grep -q "demo accounts: kept" "$work/out" || fail "a second demo says the accounts are kept"
cmp -s "$lab/demo-passwords.txt" "$work/passwords.before" || fail "a second demo changed the passwords file"
[ "$(sqlite3 "$lab/certs/registry.sqlite" "SELECT status FROM certificates WHERE certificate_id = 'CERT-000002'")" = issued ] ||
  fail "the second demo certificate is issued"
exit $((fails > 0))
