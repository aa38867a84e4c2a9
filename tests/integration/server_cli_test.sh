#!/usr/bin/env bash
# server_cli_test.sh — `polydaq member`, `polydaq user` and `polydaq serve` on the command line:
# what they store (read back with the sqlite3 CLI), passwords never from argv, and bad usage or
# input → a clear message and exit 2 with nothing written.
set -u
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 missing"; exit 77; }
P="$PD_CLI"
d="$work/lab"
q() { sqlite3 "$d/server.sqlite" "$1"; }

for sub in serve user member; do
  expect_exit 0 "$sub --help" "$P" "$sub" --help
  grep -q "usage: polydaq $sub" "$work/out" || fail "$sub --help prints its usage"
done
expect_exit 0 "member add" "$P" member add --data "$d" "Acme Polymers GmbH"
[ "$(cat "$work/out")" = 1 ] || fail "member add prints the new id: $(cat "$work/out")"
expect_exit 0 "second member" "$P" member add --data "$d" "Beta; DROP TABLE members; --"
expect_exit 2 "duplicate member" "$P" member add --data "$d" "Acme Polymers GmbH"
grep -q "exists already" "$work/err" || fail "duplicate member message: $(cat "$work/err")"
expect_exit 2 "member name with a control character" "$P" member add --data "$d" $'Evil\x1b[2J'
expect_exit 2 "member add without a name" "$P" member add --data "$d"
expect_exit 2 "member add without --data" "$P" member add "X"
expect_exit 2 "unknown member action" "$P" member remove --data "$d" "X"
[ "$(q 'SELECT count(*) FROM members')" = 2 ] || fail "members after bad input: $(q 'SELECT * FROM members')"
expect_exit 0 "member list" "$P" member list --data "$d"
grep -q $'^2\tBeta; DROP TABLE members; --\t' "$work/out" || fail "member list: $(cat "$work/out")"

echo "admin-password-one" | "$P" user add ada --data "$d" --name "Ada Admin" --role admin >"$work/out" 2>"$work/err" \
  || fail "user add admin: $(cat "$work/err")"
printf 'member-password-a\r\n' | "$P" user add alice --data "$d" --name "Alice A" --role member \
  --member "Acme Polymers GmbH" >/dev/null 2>"$work/err" || fail "user add member (CRLF line): $(cat "$work/err")"
h=$(q "SELECT password_hash FROM users WHERE login = 'alice'")
case "$h" in '$argon2id$v=19$m=65536,t=2,'*) ;; *) fail "alice's hash is not Argon2id (64 MiB, 2 passes): $h" ;; esac
for bad in "short" ""; do
  echo "$bad" | "$P" user add bob --data "$d" --name Bob --role reviewer >/dev/null 2>"$work/err"
  [ $? -eq 2 ] || fail "password '$bad' accepted"
done
head -c 2000 /dev/zero | tr '\0' x | "$P" user add bob --data "$d" --name Bob --role reviewer >/dev/null 2>"$work/err"
[ $? -eq 2 ] || fail "a 2000-byte password accepted"
echo "long-enough-password" >"$work/pw"
expect_exit 2 "role member without --member" "$P" user add bob --data "$d" --name Bob --role member <"$work/pw"
expect_exit 2 "staff with --member" "$P" user add bob --data "$d" --name Bob --role reviewer --member "Acme Polymers GmbH" <"$work/pw"
expect_exit 2 "unknown role" "$P" user add bob --data "$d" --name Bob --role root <"$work/pw"
expect_exit 2 "unknown member" "$P" user add bob --data "$d" --name Bob --role member --member "Nobody" <"$work/pw"
grep -q "no member company named 'Nobody'" "$work/err" || fail "unknown member message: $(cat "$work/err")"
expect_exit 2 "bad login" "$P" user add "Bob Smith" --data "$d" --name Bob --role reviewer <"$work/pw"
expect_exit 2 "login taken" "$P" user add alice --data "$d" --name Alice --role reviewer <"$work/pw"
expect_exit 2 "user add without --name" "$P" user add bob --data "$d" --role reviewer <"$work/pw"
expect_exit 2 "password on the command line" "$P" user add bob --data "$d" --name Bob --role reviewer --password x
expect_exit 2 "an e-mail address with a second recipient" "$P" user add bob --data "$d" --name Bob --role member \
  --member "Acme Polymers GmbH" --email "bob@acme.example>, <eve@evil.example" <"$work/pw"
grep -q "email.*not an e-mail address" "$work/err" || fail "bad address message: $(cat "$work/err")"
[ "$(q 'SELECT count(*) FROM users')" = 2 ] || fail "users after bad input: $(q 'SELECT login FROM users')"
expect_exit 0 "user list" "$P" user list --data "$d"
grep -q $'^2\talice\tmember\tAcme Polymers GmbH\tactive\tAlice A$' "$work/out" || fail "user list: $(cat "$work/out")"
q "INSERT INTO sessions VALUES ('$(printf %064d 0)', 2, 0, 0, 'test')"
expect_exit 0 "user disable" "$P" user disable alice --data "$d"
[ "$(q "SELECT disabled FROM users WHERE login = 'alice'")" = 1 ] || fail "alice not disabled"
[ "$(q 'SELECT count(*) FROM sessions')" = 0 ] || fail "disabling alice left her sessions"
expect_exit 2 "disable unknown user" "$P" user disable nobody --data "$d"
expect_exit 0 "a contact with an address" "$P" user add carla --data "$d" --name Carla --role member \
  --member "Acme Polymers GmbH" --email carla@acme.example <"$work/pw"
[ "$(q "SELECT email FROM users WHERE login = 'carla'")" = carla@acme.example ] || fail "carla's address not stored"
[ "$(q 'PRAGMA user_version')" = 4 ] || fail "schema version $(q 'PRAGMA user_version')"

# A database from a newer polydaq is refused, not changed.
cp "$d/server.sqlite" "$work/copy.sqlite"
q "PRAGMA user_version = 99"
expect_exit 3 "newer schema" "$P" member list --data "$d"
grep -q "schema version 99 is newer" "$work/err" || fail "newer schema message: $(cat "$work/err")"
q "PRAGMA user_version = 4"

# serve: bad usage → 2 with the place named.
expect_exit 2 "serve without --data" "$P" serve
expect_exit 2 "serve with a host name" "$P" serve --data "$d" --listen localhost:8080
grep -q "not a numeric IPv4 or IPv6 address" "$work/err" || fail "listen message: $(cat "$work/err")"
expect_exit 2 "serve with a bad port" "$P" serve --data "$d" --listen 127.0.0.1:99999
expect_exit 2 "serve without a port" "$P" serve --data "$d" --listen 127.0.0.1
expect_exit 2 "serve with bad threads" "$P" serve --data "$d" --threads 0
expect_exit 2 "serve with an argument" "$P" serve --data "$d" extra
# A lab config for the stations that cannot be used → 2, naming the file and the place.
expect_exit 2 "serve with a missing lab config" "$P" serve --data "$d" --lab "$work/none.yaml"
grep -q "none.yaml" "$work/err" || fail "missing lab message: $(cat "$work/err")"
printf 'lab: {name: x, operator: y}\nrun: {method: iso527}\ninstruments:\n  - {driver: modbus}\n' >"$work/lab.yaml"
expect_exit 2 "serve with an instrument without a name" "$P" serve --data "$d" --lab "$work/lab.yaml"
grep -q "lab.yaml:4:" "$work/err" || fail "lab config message: $(cat "$work/err")"
printf 'lab: {name: x\n' >"$work/broken.yaml"
expect_exit 2 "serve with a lab config that is no YAML" "$P" serve --data "$d" --lab "$work/broken.yaml"
grep -q "broken.yaml" "$work/err" || fail "broken lab message: $(cat "$work/err")"
# A port in use → exit 2 naming it.
"$P" serve --data "$d" --listen 127.0.0.1:0 >"$work/log1" 2>"$work/err1" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/err1" && break; sleep 0.1; done
port=$(sed -n 's/.*listening http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/err1")
[ -n "$port" ] || fail "serve did not start: $(cat "$work/err1")"
expect_exit 2 "serve on a port in use" "$P" serve --data "$d" --listen "127.0.0.1:$port"
grep -q "cannot listen on 127.0.0.1 port $port" "$work/err" || fail "port in use message: $(cat "$work/err")"
# IPv6 loopback, SIGINT stops cleanly with exit 0.
"$P" serve --data "$d" --listen "[::1]:0" >"$work/log2" 2>"$work/err2" &
v6=$!
for _ in $(seq 100); do grep -q listening "$work/err2" && break; sleep 0.1; done
grep -q 'listening http://\[::1\]:' "$work/err2" || echo "note: no IPv6 loopback here" >&2
kill -INT "$v6"; wait "$v6"; rc=$?
[ $rc -eq 0 ] || fail "serve after SIGINT: exit $rc $(cat "$work/err2")"
kill -TERM "${pids[0]}"; wait "${pids[0]}"; rc=$?
[ $rc -eq 0 ] || fail "serve after SIGTERM: exit $rc"
pids=()

[ $fails -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok"
