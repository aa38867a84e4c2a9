#!/usr/bin/env bash
# registry_faults_test.sh — the registry under interruption and attack, through the real CLI: a
# SIGKILL at every durable write point of certify, approve (reviewer) and approve (authorizer)
# (PD_FAULT_KILL_AT), after each of which `registry check` passes, the earlier certificate still
# verifies and the interrupted operation, repeated, succeeds; a full disk (a small tmpfs) during
# certify and approve; a change after review (in the exported file, in the registry) refused; an
# old folder (counter + audit.log + CERT-*.json) migrated, a torn or altered audit.log refused by
# line, and a garbage audit.log mattering no more once migrated; a disabled person, concurrent
# certify processes, seals recorded, a certificate signed by another lab key against this registry.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit; cleanup on exit

spec="$PD_SOURCE_DIR/config/specs/pp-demo.yaml"
expect_exit 0 "run" "$PD_CLI" run "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" -o "$work/runs"
run=$(head -n1 "$work/out")
for who in lab rv au; do expect_exit 0 "keygen $who" "$PD_CLI" keygen -o "$work/$who"; done

setup_lab() { # dir: a registry with the lab key and two registered persons
  expect_exit 0 "registry init $1" "$PD_CLI" registry init "$1" --lab-key "$work/lab/lab.pub"
  expect_exit 0 "reviewer" "$PD_CLI" registry person add -o "$1" --key "$work/rv/lab.pub" --name "R. Viewer" --role reviewer
  expect_exit 0 "authorizer" "$PD_CLI" registry person add -o "$1" --key "$work/au/lab.pub" --name "B. Boss" --role authorizer
}
certify() { "$PD_CLI" certify "$run" --spec "$spec" -o "$1"; }
review() { "$PD_CLI" approve "$2" -o "$1" --key "$work/rv/lab.key" --role reviewer; }
authorize() { "$PD_CLI" approve "$2" -o "$1" --key "$work/au/lab.key" --role authorizer --lab-key "$work/lab/lab.key"; }
last_id() { sqlite3 "$1/registry.sqlite" "SELECT certificate_id FROM certificates ORDER BY number DESC LIMIT 1"; }
status_of() { sqlite3 "$1/registry.sqlite" "SELECT status FROM certificates WHERE certificate_id = '$2'"; }

lab="$work/lab-certs"
setup_lab "$lab"
expect_exit 0 "first certify" certify "$lab"
expect_exit 0 "first review" review "$lab" CERT-000001
expect_exit 0 "first authorize" authorize "$lab" CERT-000001
first="$lab/CERT-000001.json"
expect_exit 0 "the first certificate verifies" "$PD_CLI" verify "$first" --registry "$lab" --data "$run"
# a repeated step only writes the exports again: the reviewer's repeat leaves the issued PDF alone
pdf_sum=$(sha256sum "$lab/CERT-000001.pdf")
expect_exit 0 "the reviewer's step repeated after issue" review "$lab" CERT-000001
grep -q ": issued$" "$work/out" || fail "a repeated review reports the state the certificate has"
[ "$(sha256sum "$lab/CERT-000001.pdf")" = "$pdf_sum" ] || fail "a repeated review does not render the issued PDF again"
expect_exit 2 "another reviewer's key cannot repeat it" "$PD_CLI" approve CERT-000001 -o "$lab" --key "$work/au/lab.key" --role reviewer

# --- a disabled person: refused from then on, their earlier approvals still valid --------------------
expect_exit 0 "keygen a second reviewer" "$PD_CLI" keygen -o "$work/rv2"
expect_exit 0 "register the second reviewer" "$PD_CLI" registry person add -o "$lab" --key "$work/rv2/lab.pub" --name "S. Econd" --role reviewer
expect_exit 0 "certify (for the second reviewer)" certify "$lab"
id=$(last_id "$lab")
expect_exit 0 "the second reviewer reviews" "$PD_CLI" approve "$id" -o "$lab" --key "$work/rv2/lab.key" --role reviewer
expect_exit 0 "disable the second reviewer" "$PD_CLI" registry person disable "S. Econd" -o "$lab"
expect_exit 0 "person list" "$PD_CLI" registry person list -o "$lab"
grep -q "S. Econd .*disabled" "$work/out" || fail "person list shows the disabled key"
expect_exit 0 "authorize what the second reviewer reviewed before" authorize "$lab" "$id"
expect_exit 0 "an approval made before the disable still verifies" "$PD_CLI" verify "$lab/$id.json" --registry "$lab"
expect_exit 0 "certify (after the disable)" certify "$lab"
id=$(last_id "$lab")
expect_exit 2 "a disabled key approves nothing" "$PD_CLI" approve "$id" -o "$lab" --key "$work/rv2/lab.key" --role reviewer
grep -q "was disabled on" "$work/err" || fail "the disabled key is named"
chmod 0640 "$work/rv/lab.key"
expect_exit 2 "a secret key others can read" review "$lab" "$id"
chmod 0600 "$work/rv/lab.key"
expect_exit 0 "review" review "$lab" "$id"

# --- bad input leaves no registry behind -----------------------------------------------------------
printf 'not hdf5\n' >"$work/garbage.h5"
mkdir -p "$work/empty"
expect_exit 2 "certify garbage" "$PD_CLI" certify "$work/garbage.h5" --spec "$spec" -o "$work/empty"
[ -z "$(ls -A "$work/empty")" ] || fail "a refused certify leaves nothing in the folder ($(ls -A "$work/empty"))"

# --- concurrent certify processes: never the same number ------------------------------------------
conc="$work/concurrent"
for i in 1 2 3 4; do certify "$conc" >"$work/conc-$i.out" 2>"$work/conc-$i.err" & done
wait
sort "$work"/conc-*.out | grep '\.json$' | uniq | wc -l | grep -qx 4 || fail "four concurrent certify: four different certificates"
[ "$(sqlite3 "$conc/registry.sqlite" "SELECT count(DISTINCT number) || ' ' || max(number) FROM certificates")" = "4 4" ] ||
  fail "four concurrent certify: numbers 1..4"

# --- seals beside the run files are recorded; a replaced seal is refused ---------------------------
cp "$run" "$work/sealed.h5"
printf '{"format":"polydaq-seal-1","run_id":"R-1","file":"sealed.h5","sha256":"%s","station":{"name":"frame1","key_id":"0123456789abcdef"},"signature":"00"}\n' \
  "$(sha256sum "$work/sealed.h5" | cut -d' ' -f1)" >"$work/sealed.h5.seal"
expect_exit 0 "certify a sealed run" "$PD_CLI" certify "$work/sealed.h5" --spec "$spec" -o "$conc"
[ "$(sqlite3 "$conc/registry.sqlite" "SELECT run_id || ' ' || station_key_id FROM seals")" = "R-1 0123456789abcdef" ] ||
  fail "the seal is recorded in the registry"
sed -i 's/"signature":"00"/"signature":"01"/' "$work/sealed.h5.seal"
expect_exit 2 "certify with a replaced seal" "$PD_CLI" certify "$work/sealed.h5" --spec "$spec" -o "$conc"
grep -q "has another seal recorded" "$work/err" || fail "a replaced seal is named"

# --- a certificate from another "lab" (another issuing key) does not verify against this registry ---
expect_exit 0 "keygen a forger's lab key" "$PD_CLI" keygen -o "$work/forger"
forged="$work/forged"
expect_exit 0 "forger's registry" "$PD_CLI" registry init "$forged" --lab-key "$work/forger/lab.pub"
for k in rv au; do
  role=reviewer; [ $k = au ] && role=authorizer
  expect_exit 0 "forger registers $k" "$PD_CLI" registry person add -o "$forged" --key "$work/$k/lab.pub" --name "$k" --role $role
done
expect_exit 0 "forger certifies" certify "$forged"
expect_exit 0 "forger reviews" review "$forged" CERT-000001
expect_exit 0 "forger issues" "$PD_CLI" approve CERT-000001 -o "$forged" --key "$work/au/lab.key" --role authorizer --lab-key "$work/forger/lab.key"
expect_exit 1 "a certificate signed with another lab key, against the lab's registry" "$PD_CLI" verify "$forged/CERT-000001.json" --registry "$lab"
grep -q "^FAIL: signed by key .*, which the registry does not list as the lab's issuing key" "$work/out" ||
  fail "verify --registry says the signing key is not the lab's"
grep -q "^FAIL: the document differs from the one the registry issued as CERT-000001" "$work/out" ||
  fail "verify --registry says the document is not the one issued under that number"

# --- a change after review is refused --------------------------------------------------------
expect_exit 0 "certify (to be changed)" certify "$lab"
id=$(last_id "$lab")
expect_exit 0 "review" review "$lab" "$id"
cp "$lab/$id.json" "$work/reviewed.json"
sed -i '0,/"customer": /s//"customer": "Someone Else", "was": /' "$lab/$id.json"
expect_exit 2 "authorize an edited export" authorize "$lab" "$id"
grep -q "$id.json: the file's content differs from $id in the registry" "$work/err" || fail "the edited file is named"
[ "$(status_of "$lab" "$id")" = reviewed ] || fail "nothing was issued from an edited export"
expect_exit 1 "registry check finds the edited export" "$PD_CLI" registry check "$lab"
grep -q "^FAIL: .*$id.json: its content differs from the registry's" "$work/out" || fail "registry check names the edited export"
expect_exit 0 "export restores the registry's" "$PD_CLI" registry export "$id" -o "$lab"
cmp -s "$lab/$id.json" "$work/reviewed.json" || fail "export writes the registry's document back"
sqlite3 "$lab/registry.sqlite" "UPDATE certificates SET document = replace(document, '\"verdict\": \"pass\"', '\"verdict\": \"fail\"') WHERE certificate_id = '$id'"
rm -f "$lab/$id.json"
expect_exit 2 "authorize a document changed in the registry" authorize "$lab" "$id"
grep -q "no longer hashes to the content recorded" "$work/err" || fail "the registry's changed document is named"
[ "$(status_of "$lab" "$id")" = reviewed ] || fail "nothing was issued from a changed registry document"

# --- SIGKILL at every durable write point ------------------------------------------------------
after_kill() { # what was interrupted
  expect_exit 0 "registry check after a kill in $1" "$PD_CLI" registry check "$lab"
  expect_exit 0 "the first certificate verifies after a kill in $1" "$PD_CLI" verify "$first" --registry "$lab" --data "$run"
  # every earlier issued certificate (its export is complete: issued before this operation began)
  for c in $(sqlite3 "$lab/registry.sqlite" "SELECT certificate_id FROM certificates WHERE status = 'issued' AND certificate_id <> '$target'"); do
    expect_exit 0 "$c verifies after a kill in $1" "$PD_CLI" verify "$lab/$c.json" --registry "$lab"
  done
}
kills=0
for op in certify review authorize; do
  for n in $(seq 1 30); do
    target=
    if [ "$op" != certify ]; then
      certify "$lab" >/dev/null 2>&1 || fail "certify before $op $n"
      target=$(last_id "$lab")
      [ "$op" = authorize ] && { review "$lab" "$target" >/dev/null 2>&1 || fail "review before authorize $n"; }
    fi
    before=$(last_id "$lab")
    PD_FAULT_KILL_AT=$n "$op" "$lab" "$target" >"$work/out" 2>"$work/err"
    code=$?
    [ "$code" -eq 0 ] && break # the operation completed before point n: every point was tried
    [ "$code" -eq 137 ] || { fail "$op killed at point $n: exit $code, expected 137 (SIGKILL)"; cat "$work/err" >&2; break; }
    kills=$((kills + 1))
    after_kill "$op at point $n"
    case $op in
      certify)
        expect_exit 0 "certify again after a kill at point $n" certify "$lab"
        [ "$(last_id "$lab")" != "$before" ] || fail "the repeated certify took a new number" ;;
      review)
        expect_exit 0 "review again after a kill at point $n" review "$lab" "$target"
        [ "$(status_of "$lab" "$target")" = reviewed ] || fail "$target reviewed after the repeat" ;;
      authorize)
        expect_exit 0 "authorize again after a kill at point $n" authorize "$lab" "$target"
        expect_exit 0 "$target verifies after the repeat" "$PD_CLI" verify "$lab/$target.json" --registry "$lab" --data "$run" ;;
    esac
  done
  [ "$n" -ge 4 ] || fail "$op: only $((n - 1)) durable write points were reached"
done
[ "$kills" -ge 15 ] || fail "fewer kills than write points ($kills)"
expect_exit 0 "the next certify works" certify "$lab"
expect_exit 0 "export whatever a kill left unwritten" "$PD_CLI" registry export -o "$lab"
expect_exit 0 "registry check at the end" "$PD_CLI" registry check "$lab"
grep -q "^note:" "$work/out" && fail "every certificate is exported after registry export"
[ "$(sqlite3 "$lab/registry.sqlite" 'PRAGMA integrity_check')" = ok ] || fail "sqlite3 integrity_check"
# what the lab publishes after all that: a customer verifies the first certificate with it alone
expect_exit 0 "publish" "$PD_CLI" registry publish -o "$work/pub" --registry "$lab" --lab-key "$work/lab/lab.key"
expect_exit 0 "a customer verifies with the published keyring and revocations" "$PD_CLI" verify "$first" \
  --keyring "$work/pub/keyring.txt" --revocations "$work/pub/revocations.json" --data "$run"
grep -q '^ok: the keyring lists the reviewer.s key as "R. Viewer" and the authorizer.s as "B. Boss"' "$work/out" ||
  fail "the published keyring lists the registered persons"
# numbers: no gaps (a killed certify took none) and no duplicates
/usr/bin/python3 - "$lab/registry.sqlite" <<'PY' || fail "certificate numbers are 1..n without gaps"
import sqlite3, sys
n = [r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT number FROM certificates ORDER BY number")]
sys.exit(0 if n == list(range(1, len(n) + 1)) else 1)
PY
ls "$lab"/*.tmp.* >/dev/null 2>&1 && fail "registry export removes the temporary files the kills left"

# --- a full disk ---------------------------------------------------------------------------------
disk="$work/disk"
mkdir -p "$disk"
if mount -t tmpfs -o size=3m tmpfs "$disk" 2>/dev/null; then
  trap 'umount "$disk" 2>/dev/null; cleanup' EXIT
  small="$disk/certs"
  setup_lab "$small"
  expect_exit 0 "certify on the small disk" certify "$small"
  fill() { dd if=/dev/zero of="$disk/filler" bs=4k status=none 2>/dev/null; sync; }
  fill
  expect_exit 2 "certify on a full disk" certify "$small"
  [ -n "${PD_TEST_VERBOSE:-}" ] && cat "$work/err" >&2
  grep -Eq "No space left|disk is full" "$work/err" || fail "certify says the disk is full: $(cat "$work/err")"
  expect_exit 0 "registry check on the full disk" "$PD_CLI" registry check "$small"
  rm -f "$disk/filler"
  expect_exit 0 "registry export after freeing space" "$PD_CLI" registry export -o "$small"
  expect_exit 0 "certify after freeing space" certify "$small"
  id=$(last_id "$small")
  fill
  expect_exit 2 "review on a full disk" review "$small" "$id"
  grep -Eq "No space left|disk is full" "$work/err" || fail "review says the disk is full: $(cat "$work/err")"
  rm -f "$disk/filler"
  expect_exit 0 "review after freeing space" review "$small" "$id"
  fill
  expect_exit 2 "authorize on a full disk" authorize "$small" "$id"
  grep -Eq "No space left|disk is full" "$work/err" || fail "authorize says the disk is full: $(cat "$work/err")"
  rm -f "$disk/filler"
  expect_exit 0 "authorize after freeing space" authorize "$small" "$id"
  expect_exit 0 "registry check after the full disk" "$PD_CLI" registry check "$small"
  expect_exit 0 "the certificate issued after the full disk verifies" "$PD_CLI" verify "$small/$id.json" --registry "$small" --data "$run"
  umount "$disk" || fail "umount"
  trap cleanup EXIT
else
  echo "registry_faults_test: mount -t tmpfs not permitted here: the full-disk part is skipped" >&2
fi

# --- migration of an old folder ------------------------------------------------------------------
old="$work/old"
mkdir -p "$old"
cp "$lab"/CERT-00000[1-3].json "$old/"
sqlite3 "$lab/registry.sqlite" "SELECT entry FROM audit WHERE certificate_id IN ('CERT-000001','CERT-000002','CERT-000003') ORDER BY seq" >"$work/entries"
# the old log: the entries of those certificates, re-chained as an old polydaq wrote them
/usr/bin/python3 - "$work/entries" "$old/audit.log" <<'PY'
import hashlib, json, sys
prev = "0" * 64
with open(sys.argv[2], "w") as out:
    for seq, line in enumerate(open(sys.argv[1]), 1):
        e = json.loads(line)
        e.update(seq=seq, prev=prev)
        e.pop("hash")
        e["hash"] = prev = hashlib.sha256(json.dumps(e, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        out.write(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n")
PY
printf '41\n' >"$old/counter"
expect_exit 2 "certify into an old folder" certify "$old"
grep -q "registry migrate" "$work/err" || fail "certify into an old folder asks for migrate"
[ -e "$old/registry.sqlite" ] && fail "certify into an old folder creates no registry"
expect_exit 2 "registry init in an old folder" "$PD_CLI" registry init "$old" --lab-key "$work/lab/lab.pub"
grep -q "registry migrate" "$work/err" || fail "registry init in an old folder asks for migrate"
# a file of a number the registry has not given is never overwritten
mkdir -p "$work/foreign"
certify "$work/foreign" >/dev/null 2>&1 || fail "certify into a new folder"
echo '{"not": "ours"}' >"$work/foreign/CERT-000002.json"
expect_exit 2 "certify where the next number's file exists" certify "$work/foreign"
grep -q "CERT-000002.json: exists, but CERT-000002 is not in the registry" "$work/err" || fail "the foreign file is named"
[ "$(cat "$work/foreign/CERT-000002.json")" = '{"not": "ours"}' ] || fail "the foreign file is untouched"
cp -r "$old" "$work/torn"
head -c -40 "$old/audit.log" >"$work/torn/audit.log" # the last line torn
lines=$(wc -l <"$old/audit.log")
expect_exit 2 "migrate a torn audit.log" "$PD_CLI" registry migrate "$work/torn"
grep -q "audit.log:$lines: " "$work/err" || fail "the torn line is named ($(cat "$work/err"))"
[ -e "$work/torn/registry.sqlite" ] && fail "nothing is created from a torn log"
cp -r "$old" "$work/altered"
sed -i '2s/"event":"[a-z]*"/"event":"draft"/' "$work/altered/audit.log"
expect_exit 2 "migrate an altered audit.log" "$PD_CLI" registry migrate "$work/altered"
grep -q "audit.log:2: " "$work/err" || fail "the altered line is named ($(cat "$work/err"))"
printf '0x10\n' >"$work/altered/counter"
expect_exit 2 "migrate a counter that is no plain number" "$PD_CLI" registry migrate "$work/altered"
expect_exit 0 "migrate" "$PD_CLI" registry migrate "$old"
[ -f "$old/audit.log.migrated" ] && [ -f "$old/counter.migrated" ] || fail "the old files are kept as *.migrated"
[ "$(sqlite3 "$old/registry.sqlite" "SELECT count(*) FROM audit")" = "$lines" ] || fail "every audit entry imported"
[ "$(sqlite3 "$old/registry.sqlite" "SELECT group_concat(status) FROM certificates")" = \
  "$(for i in 1 2 3; do status_of "$lab" "CERT-00000$i"; done | paste -sd,)" ] || fail "every certificate imported with its state"
expect_exit 0 "registry check of the migrated folder" "$PD_CLI" registry check "$old"
expect_exit 2 "migrate twice" "$PD_CLI" registry migrate "$old"
# garbage where the old log was: no longer read by anything
printf '{"seq":1,"torn' >"$old/audit.log"
setup_lab "$old"
expect_exit 0 "certify after migration (the counter's next number)" certify "$old"
[ "$(head -n1 "$work/out")" = "$old/CERT-000042.json" ] || fail "numbers continue after the old counter (got $(head -n1 "$work/out"))"
expect_exit 0 "review after migration" review "$old" CERT-000042
expect_exit 0 "authorize after migration" authorize "$old" CERT-000042
expect_exit 0 "verify after migration, a garbage audit.log beside" "$PD_CLI" verify "$old/CERT-000042.json" --registry "$old" --data "$run"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "registry_faults_test: all checks passed ($kills kills)"
