#!/usr/bin/env bash
# cert_flow_test.sh — the certificate life cycle through the real CLI: a simulated run, keygen (the
# lab's key and two persons'), registry init + person add, certify (draft), approve as reviewer then
# authorizer with their registered keys (the lab key signs), verify (signature, registry, raw file),
# tampering (certificate byte, raw-file byte, another key) makes verify fail, recompute,
# and the PDF: every page renders non-blank (pdftoppm) and carries the verdicts and the SIMULATED
# notice (pdftotext).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit; cleanup on exit

expect_exit 0 "run" "$PD_CLI" run "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" -o "$work/runs"
run=$(head -n1 "$work/out")
expect_exit 0 "keygen" "$PD_CLI" keygen -o "$work/keys"
[ "$(stat -c %a "$work/keys/lab.key")" = 600 ] || fail "secret key mode is not 0600"
expect_exit 2 "keygen refuses to overwrite" "$PD_CLI" keygen -o "$work/keys"
expect_exit 0 "keygen other" "$PD_CLI" keygen -o "$work/other"
# two persons' keys (any Ed25519 key pair; keygen --person names them, keygen -o makes lab.key)
expect_exit 0 "keygen reviewer" "$PD_CLI" keygen -o "$work/rv"
expect_exit 0 "keygen authorizer" "$PD_CLI" keygen -o "$work/au"

certs="$work/certs"
expect_exit 0 "registry init" "$PD_CLI" registry init "$certs" --lab-key "$work/keys/lab.pub" --name "Joint Plastics Test Laboratory"
expect_exit 0 "person add reviewer" "$PD_CLI" registry person add --key "$work/rv/lab.pub" --name "R. Viewer" --role reviewer -o "$certs"
expect_exit 0 "person add authorizer" "$PD_CLI" registry person add --key "$work/au/lab.pub" --name "B. Boss" --role authorizer -o "$certs"
expect_exit 0 "certify" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$certs" \
  --request R-1 --customer "ACME Automotive"
cert=$(head -n1 "$work/out")
[ "$cert" = "$certs/CERT-000001.json" ] || fail "first certificate number (got '$cert')"
pdf="${cert%.json}.pdf"
[ -f "$pdf" ] || fail "draft PDF written"
# the raw file's SHA-256 on the certificate is coreutils' (an independent implementation)
want=$(sha256sum "$run" | cut -d' ' -f1)
/usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["runs"][0]["sha256"] != sys.argv[2])' \
  "$cert" "$want" || fail "certificate's raw-file SHA-256 is sha256sum's ($want)"
expect_exit 1 "verify a draft" "$PD_CLI" verify "$cert" --key "$work/keys/lab.pub"
expect_exit 2 "authorizer before reviewer" "$PD_CLI" approve CERT-000001 -o "$certs" --key "$work/au/lab.key" --role authorizer --lab-key "$work/keys/lab.key"
expect_exit 2 "free-text names are gone" "$PD_CLI" approve "$cert" --as "R. Viewer" --role reviewer
expect_exit 2 "an unregistered key" "$PD_CLI" approve CERT-000001 -o "$certs" --key "$work/other/lab.key" --role reviewer
grep -q "not registered" "$work/err" || fail "approve names the unregistered key"
expect_exit 2 "a reviewer's key as authorizer" "$PD_CLI" approve CERT-000001 -o "$certs" --key "$work/rv/lab.key" --role authorizer --lab-key "$work/keys/lab.key"
expect_exit 0 "review" "$PD_CLI" approve CERT-000001 -o "$certs" --key "$work/rv/lab.key" --role reviewer
expect_exit 2 "authorize with an unregistered lab key" "$PD_CLI" approve "$cert" --key "$work/au/lab.key" --role authorizer --lab-key "$work/other/lab.key"
expect_exit 0 "authorize" "$PD_CLI" approve "$cert" --key "$work/au/lab.key" --role authorizer --lab-key "$work/keys/lab.key"
grep -q issued "$work/out" || fail "authorize reports issued"

expect_exit 0 "verify" "$PD_CLI" verify "$cert" --key "$work/keys/lab.pub" --data "$run"
grep -q VERIFIED "$work/out" || fail "verify says VERIFIED"
expect_exit 0 "verify against the registry" "$PD_CLI" verify "$cert" --registry "$certs" --data "$run"
grep -q "^ok: reviewer 'R. Viewer'" "$work/out" || fail "verify --registry names the registered reviewer"
grep -q "^ok: signed by lab key .* registered in the registry" "$work/out" || fail "verify --registry trusts the registered lab key"
expect_exit 1 "verify with another key" "$PD_CLI" verify "$cert" --key "$work/other/lab.pub"
cp "$run" "$work/copy.h5"
printf '\x01' | dd of="$work/copy.h5" bs=1 seek=4000 conv=notrunc status=none
expect_exit 1 "verify a changed raw file" "$PD_CLI" verify "$cert" --key "$work/keys/lab.pub" --data "$work/copy.h5"
cp "$cert" "$work/orig.json"
sed -i '0,/"operator": "/s//"operator": "X/' "$cert"
expect_exit 1 "verify a changed certificate" "$PD_CLI" verify "$cert" --key "$work/keys/lab.pub"
cp "$work/orig.json" "$cert"

# --- recompute: the content regenerated from the raw file, compared exactly ---------------------
recompute() { # exit, description, certificate, raw file
  expect_exit "$1" "$2" "$PD_CLI" certify --recompute "$3" --customer "ACME Automotive" --request R-1 --data "$4"
}
recompute 0 "recompute" "$cert" "$run"
grep -q "recomputed identically, byte for byte" "$work/out" || fail "recompute reports an identical content"
grep -q "^DIFF" "$work/out" && fail "an untouched certificate shows differences"
expect_exit 1 "recompute without the order data" "$PD_CLI" certify --recompute "$cert" --data "$run"
grep -q '^DIFF: customer: certificate "ACME Automotive", recomputed null' "$work/out" ||
  fail "recompute names a customer it cannot know from the raw data"
expect_exit 2 "recompute without data" "$PD_CLI" certify --recompute "$cert"
expect_exit 2 "recompute of garbage" "$PD_CLI" certify --recompute "$run" --data "$run"

# One edit of the certificate at a time (Debian's python: json), each reported by its path with
# the certificate's and the recomputed value.
edit() { # python statement on d, new file name
  /usr/bin/python3 - "$work/orig.json" "$work/$2" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=2, ensure_ascii=False)
PY
}
expect_diff() { # file, description, regex of the DIFF line
  recompute 1 "recompute $2" "$work/$1" "$run"
  grep -Eq "$3" "$work/out" || { fail "recompute does not report $2"; cat "$work/out" >&2; }
  grep -q "^FAIL: .* field(s) of the certificate differ" "$work/out" || fail "recompute $2: no summary"
}
modulus=$(/usr/bin/python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["specimens"][2]["results"]["tensile_modulus"]["value"]))' "$work/orig.json")
edit 'd["customer"] = "Other Customer Ltd"' customer.json
expect_diff customer.json "a changed customer" '^DIFF: customer: certificate "Other Customer Ltd", recomputed "ACME Automotive"$'
edit 'd["material"] = "PE-HD"' material.json
expect_diff material.json "a changed material" '^DIFF: material: certificate "PE-HD", recomputed "PP-H demo grade"$'
edit 'd["method"]["parameters"]["e2"] = 0.003' param.json
expect_diff param.json "a changed method parameter" '^DIFF: method\.parameters\.e2: certificate 0\.003, recomputed 0\.0025$'
edit 'd["specimens"][2]["results"]["tensile_modulus"]["value"] = 1234.5' value.json
expect_diff value.json "a changed result" "^DIFF: specimens\[2\]\.results\.tensile_modulus\.value: certificate 1234\.5, recomputed $modulus\$"
edit 'd["verdict"] = "fail"' verdict.json
expect_diff verdict.json "a changed verdict" '^DIFF: verdict: certificate "fail", recomputed "pass"$'
edit 'd["checks"][1]["verdict"] = "conditional pass"' check.json
expect_diff check.json "a changed check verdict" '^DIFF: checks\[1\]\.verdict: certificate "conditional pass", recomputed "pass"$'
[ "$(grep -c '^DIFF' "$work/out")" -eq 1 ] || fail "one edit, one difference (got $(grep -c '^DIFF' "$work/out"))"
# The recompute evaluates with the method the certificate records, not this build's defaults: a
# definition with another modulus range changes the moduli, and its parameters agree with it.
edit 'd["method"]["definition"] = d["method"]["definition"].replace("e2: 0.0025", "e2: 0.003"); d["method"]["parameters"]["e2"] = 0.003' definition.json
expect_diff definition.json "results of another recorded method" '^DIFF: specimens\[0\]\.results\.tensile_modulus\.value: '
grep -q "method.parameters.e2" "$work/out" && fail "recompute used this build's e2, not the certificate's"
grep -q "^note: this build's default for method parameter e2 is 0.0025; the certificate's 0.003 was used" \
  "$work/out" || fail "recompute notes that this build's default differs from the certificate's"
# A lab method file: its text is recorded beside the definition; a parameter the text states that
# disagrees with the definition is a changed text.
expect_exit 0 "certify with a method file" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" \
  -o "$work/certs-m" --method "$PD_SOURCE_DIR/config/methods/iso527.yaml" --request R-1 --customer "ACME Automotive"
mcert=$(head -n1 "$work/out")
recompute 0 "recompute with a method file" "$mcert" "$run"
/usr/bin/python3 - "$mcert" "$work/text.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["method"]["text"] = d["method"]["text"].replace("e2: 0.0025", "e2: 0.004")
json.dump(d, open(sys.argv[2], "w"), indent=2, ensure_ascii=False)
PY
recompute 1 "recompute a changed method text" "$work/text.json" "$run"
grep -q '^DIFF: method.text: states e2 = 0.004, method.definition 0.0025$' "$work/out" ||
  fail "recompute reports a method text that disagrees with the definition"
# A recorded definition that is not a method file, or the wrong number of raw files: bad input.
edit 'd["method"]["definition"] = "method: {id: iso527}\nparameters: {e2: [\n"' baddef.json
recompute 2 "recompute with a damaged definition" "$work/baddef.json" "$run"
grep -q "method.definition" "$work/err" || fail "the damaged definition is named"
expect_exit 2 "recompute with two raw files for one" "$PD_CLI" certify --recompute "$cert" --data "$run" "$run"
# A changed raw file: the forces of the second specimen 1 % higher (a load cell read 1 % high; the
# file stays readable, its hash changes).
cp "$run" "$work/changed.h5"
/usr/bin/python3 - "$work/changed.h5" <<'PY'
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    force = f["specimen_02/frame1/force"]
    force[...] = force[...] * 1.01
PY
recompute 1 "recompute a changed raw file" "$cert" "$work/changed.h5"
grep -q '^DIFF: runs\[0\]\.sha256: ' "$work/out" || fail "recompute reports the raw file's SHA-256"
grep -q '^DIFF: specimens\[1\]\.results\.' "$work/out" || fail "recompute reports the changed specimen's results"
grep -q '^note: runs\[0\]\.file: certified as ' "$work/out" || fail "recompute notes the other raw-file path"
expect_exit 2 "verify garbage" "$PD_CLI" verify "$run"

# a second certificate gets the next number; a revision names the one it replaces, which must be an
# issued certificate of this registry (not a path, not a missing number)
expect_exit 2 "revision of a path" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$certs" \
  --revises "$cert" --reason "customer name corrected"
grep -q -- "--revises must name an issued certificate" "$work/err" || fail "a path as --revises is refused by name"
expect_exit 2 "revision of a missing number" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$certs" \
  --revises CERT-000099 --reason "customer name corrected"
grep -q "CERT-000099" "$work/err" || fail "a missing --revises number is named"
expect_exit 0 "revision" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$certs" \
  --revises CERT-000001 --reason "customer name corrected"
[ "$(head -n1 "$work/out")" = "$certs/CERT-000002.json" ] || fail "revision gets the next number"
grep -q '"replaces": "CERT-000001"' "$certs/CERT-000002.json" || fail "revision names the replaced certificate"
expect_exit 0 "review the revision" "$PD_CLI" approve CERT-000002 -o "$certs" --key "$work/rv/lab.key" --role reviewer
expect_exit 0 "issue the revision" "$PD_CLI" approve CERT-000002 -o "$certs" --key "$work/au/lab.key" --role authorizer --lab-key "$work/keys/lab.key"
expect_exit 1 "verify a superseded certificate" "$PD_CLI" verify "$cert" --registry "$certs"
grep -q "^FAIL: CERT-000001 was superseded by CERT-000002" "$work/out" || fail "verify reports the supersession"
expect_exit 0 "verify the revision" "$PD_CLI" verify "$certs/CERT-000002.json" --registry "$certs"
expect_exit 0 "withdraw the revision" "$PD_CLI" registry withdraw CERT-000002 --reason "specimens mixed up" --key "$work/au/lab.key" -o "$certs"
expect_exit 1 "verify a withdrawn certificate" "$PD_CLI" verify "$certs/CERT-000002.json" --registry "$certs"
grep -q "^FAIL: CERT-000002 was withdrawn on .*: specimens mixed up" "$work/out" || fail "verify reports the withdrawal and its reason"
expect_exit 0 "registry check" "$PD_CLI" registry check "$certs"
sqlite3 "$certs/registry.sqlite" "PRAGMA integrity_check" | grep -qx ok || fail "sqlite3 integrity_check"
[ "$(sqlite3 "$certs/registry.sqlite" "SELECT status FROM certificates ORDER BY number" | tr '\n' ' ')" = "superseded withdrawn " ] ||
  fail "sqlite3 sees the states superseded, withdrawn"
expect_exit 0 "publish" "$PD_CLI" registry publish --lab-key "$work/keys/lab.key" -o "$work/pub" --registry "$certs"
grep -q "^polydaq-ed25519-public $(cut -d' ' -f2 "$work/keys/lab.pub") lab Joint Plastics Test Laboratory\$" "$work/pub/keyring.txt" ||
  fail "keyring lists the lab key"
/usr/bin/python3 - "$work/pub/revocations.json" <<'PY' || fail "revocations.json lists both"
import json, sys
d = json.load(open(sys.argv[1]))
e = {x["certificate"]: x for x in d["entries"]}
assert d["format"] == "polydaq-revocations-1"
assert e["CERT-000001"]["state"] == "superseded" and e["CERT-000001"]["by"] == "CERT-000002"
assert e["CERT-000002"]["state"] == "withdrawn" and e["CERT-000002"]["by"] is None
PY
# a customer with nothing but what the lab published: the keyring's lab key is the trust anchor,
# its persons the approvers, and the signed revocation list tells the states
expect_exit 1 "a customer verifies the superseded certificate" "$PD_CLI" verify "$cert" --keyring "$work/pub/keyring.txt" \
  --revocations "$work/pub/revocations.json"
grep -q "CERT-000001.*superseded by CERT-000002" "$work/out" || fail "the published list says superseded"
grep -q "^ok: Ed25519 signature valid, by the trusted lab key" "$work/out" || fail "the published keyring's lab key is the anchor"
expect_exit 1 "a customer verifies the withdrawn certificate" "$PD_CLI" verify "$certs/CERT-000002.json" \
  --keyring "$work/pub/keyring.txt" --revocations "$work/pub/revocations.json"
grep -q "CERT-000002 was withdrawn" "$work/out" || fail "the published list says withdrawn"

# the PDF of the issued certificate
pages=$(pdfinfo "$pdf" | awk '/^Pages:/ {print $2}')
[ "${pages:-0}" -ge 2 ] || fail "PDF has at least 2 pages (got '$pages')"
pdftoppm -r 40 -gray "$pdf" "$work/page" || fail "pdftoppm renders the PDF"
for p in "$work"/page-*.pgm; do
  /usr/bin/python3 - "$p" <<'PY' || fail "$p is blank"
import sys
data = open(sys.argv[1], "rb").read()
# binary PGM: header of 4 tokens, then pixels
parts = data.split(maxsplit=4)
pix = parts[4]
dark = sum(1 for b in pix if b < 128)
sys.exit(0 if dark > 500 else 1)
PY
done
for ((i = 1; i <= pages; i++)); do
  txt=$(pdftotext -f "$i" -l "$i" "$pdf" -)
  grep -q "SIMULATED — not a test result" <<<"$txt" || fail "page $i lacks the SIMULATED notice"
  grep -q "page $i of $pages" <<<"$txt" || fail "page $i lacks 'page $i of $pages'"
done
all=$(pdftotext "$pdf" -)
grep -q "Overall verdict: pass" <<<"$all" || fail "PDF states the verdict"
grep -q "end of report" <<<"$all" || fail "PDF ends with end of report"
grep -q "Authorized by: B. Boss" <<<"$all" || fail "PDF names the authorizer"
grep -q "relate only to the items tested" <<<"$all" || fail "PDF has the items-tested statement"
grep -q "NOT ACCREDITED" <<<"$all" || fail "PDF marks simulated data as not accredited"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "cert_flow_test: all checks passed"
