#!/usr/bin/env bash
# cert_pades_test.sh — the issued certificate's PDF carries a PAdES signature a standard reader
# accepts: keygen --x509 makes the lab's X.509 identity; after the authorizer's approval poppler's
# pdfsig (with the lab's certificate trusted in a fresh NSS database) reports the signature valid
# and the signer trusted, the byte range covers the whole file but the /Contents hex, the CMS
# signature verifies with the openssl CLI over the extracted ranges, the text is the unsigned
# PDF's, /Reason names the number and the JSON's SHA-256 (the QR code's). Attacks: one changed
# byte in either signed range, an impostor's certificate with the same name, the draft (no
# signature), a key readable by others, half an X.509 identity. A CA-issued RSA identity with its
# chain, and the demo's signed PDF, validate too.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit; cleanup on exit
for tool in pdfsig pdftotext certutil openssl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (tools/dev installs it)"; exit 77; }
done
py=/usr/bin/python3

expect_exit 0 "run" "$PD_CLI" run "$PD_SOURCE_DIR/tests/integration/data/fast-tensile.yaml" -o "$work/runs"
run=$(head -n1 "$work/out")
lab="Joint Plastics Test Laboratory"

# --- keygen --x509 ----------------------------------------------------------------------------
keys="$work/keys"
expect_exit 0 "keygen --x509" "$PD_CLI" keygen -o "$keys" --x509 "$lab"
grep -qx "$keys/lab.crt" "$work/out" || fail "keygen prints the certificate's path"
[ "$(stat -c %a "$keys/lab-x509.key")" = 600 ] || fail "X.509 secret key mode is not 0600"
openssl x509 -in "$keys/lab.crt" -noout -text >"$work/crt.txt" || fail "lab.crt is an X.509 certificate (openssl)"
grep -q "Subject: CN = $lab, O = $lab" "$work/crt.txt" || fail "certificate subject is CN and O = the lab's name"
grep -q "Digital Signature, Non Repudiation" "$work/crt.txt" || fail "key usage digitalSignature + nonRepudiation"
grep -q "ASN1 OID: prime256v1" "$work/crt.txt" || fail "the key is ECDSA P-256"
openssl pkey -in "$keys/lab-x509.key" -pubout -out "$work/k.pub" 2>/dev/null || fail "lab-x509.key is a PEM key"
openssl x509 -in "$keys/lab.crt" -pubkey -noout >"$work/c.pub"
cmp -s "$work/k.pub" "$work/c.pub" || fail "the certificate is the key's"
openssl verify -CAfile "$keys/lab.crt" "$keys/lab.crt" >/dev/null || fail "lab.crt is self-signed"
sum=$(sha256sum "$keys/lab.crt" "$keys/lab-x509.key")
expect_exit 2 "keygen --x509 refuses to overwrite" "$PD_CLI" keygen -o "$keys" --x509 "$lab"
[ "$sum" = "$(sha256sum "$keys/lab.crt" "$keys/lab-x509.key")" ] || fail "an existing X.509 identity was changed"
expect_exit 2 "keygen --x509 with an empty name" "$PD_CLI" keygen -o "$work/nokey" --x509 ""
[ -e "$work/nokey/lab.key" ] && fail "a refused keygen --x509 left a key behind"

# --- certify, approve: the issued PDF is signed -----------------------------------------------
certs="$work/certs"
# the registry: the lab's key and two persons' keys (reviewer, authorizer)
expect_exit 0 "keygen reviewer" "$PD_CLI" keygen -o "$work/rv"
expect_exit 0 "keygen authorizer" "$PD_CLI" keygen -o "$work/au"
expect_exit 0 "registry init" "$PD_CLI" registry init "$certs" --lab-key "$keys/lab.pub"
expect_exit 0 "reviewer" "$PD_CLI" registry person add -o "$certs" --key "$work/rv/lab.pub" --name "R. Viewer" --role reviewer
expect_exit 0 "authorizer" "$PD_CLI" registry person add -o "$certs" --key "$work/au/lab.pub" --name "B. Boss" --role authorizer
lab_key() { # another issuing key of the lab (DIR/lab.pub) registered, as `registry init` does again
  expect_exit 0 "register $1/lab.pub" "$PD_CLI" registry init "$certs" --lab-key "$1/lab.pub"
}
certify() { # → $new: the new certificate's JSON path (not in a subshell: its failures count)
  expect_exit 0 "certify" "$PD_CLI" certify "$run" --spec "$PD_SOURCE_DIR/config/specs/pp-demo.yaml" -o "$certs" \
    --request R-1 --customer "ACME Automotive"
  new=$(head -n1 "$work/out")
}
certify
cert=$new
pdf="${cert%.json}.pdf"
expect_exit 2 "pdfsig on the draft" pdfsig "$pdf"
grep -q "does not contain any signatures" "$work/out" || fail "the draft PDF is not signed"
expect_exit 0 "review" "$PD_CLI" approve "$cert" --key "$work/rv/lab.key" --role reviewer
expect_exit 0 "authorize" "$PD_CLI" approve "$cert" --key "$work/au/lab.key" --role authorizer --lab-key "$keys/lab.key"
expect_exit 0 "verify the JSON" "$PD_CLI" verify "$cert" --key "$keys/lab.pub" --data "$run"

nss="$work/nss"
mkdir -p "$nss"
certutil -N -d "sql:$nss" --empty-password || fail "NSS database"
certutil -A -d "sql:$nss" -n lab -t "CT,C,C" -i "$keys/lab.crt" || fail "lab certificate trusted in NSS"
expect_exit 0 "pdfsig" pdfsig -nssdir "sql:$nss" "$pdf"
grep -q "Signature Validation: Signature is Valid." "$work/out" || fail "pdfsig: signature valid"
grep -q "Certificate Validation: Certificate is Trusted." "$work/out" || fail "pdfsig: signer trusted"
grep -q "Signer Certificate Common Name: $lab" "$work/out" || fail "pdfsig: signed by the lab"
grep -q "Signature Type: ETSI.CAdES.detached" "$work/out" || fail "pdfsig: PAdES (ETSI.CAdES.detached)"
grep -q "Signing Hash Algorithm: SHA-256" "$work/out" || fail "pdfsig: SHA-256"
grep -q "Total document signed" "$work/out" || fail "pdfsig: the whole document is signed"
[ "$(grep -c "^Signature #" "$work/out")" = 1 ] || fail "pdfsig: exactly one signature"
grep -q "Syntax" "$work/err" && fail "poppler reports syntax errors in the signed PDF: $(cat "$work/err")"
cp "$work/out" "$work/pdfsig.txt"
# The update's cross-reference table is right: poppler reads it without repairing anything.
expect_exit 0 "pdfinfo" pdfinfo "$pdf"
[ -s "$work/err" ] && fail "pdfinfo complains about the signed PDF: $(cat "$work/err")"
grep -q "^Form: *AcroForm" "$work/out" || fail "pdfinfo: the signed PDF has a form (the signature field)"
pages=$(grep "^Pages:" "$work/out")

# Byte range, /Contents, /Reason, the revision before signing: read independently (python).
$py - "$pdf" "$work" <<'EOF' || fail "byte range and signature dictionary"
import binascii, re, sys
pdf, work = sys.argv[1], sys.argv[2]
d = open(pdf, 'rb').read()
ranges = re.findall(rb'/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]', d)
assert len(ranges) == 1, ranges
a, b, c, n = map(int, ranges[0])
assert a == 0 and c + n == len(d), ("range does not reach both ends", a, b, c, n, len(d))
gap = d[a + b:c]
assert gap[:1] == b'<' and gap[-1:] == b'>' and re.fullmatch(rb'<[0-9A-Fa-f]+>', gap), "gap is exactly the hex string"
assert d[a + b - len(b'/Contents '):a + b] == b'/Contents ', "the gap is /Contents' value"
der = binascii.unhexlify(gap[1:-1])
assert der[0] == 0x30 and der[1] & 0x80
k = der[1] & 0x7f
der = der[:2 + k + int.from_bytes(der[2:2 + k], 'big')]
open(work + '/sig.der', 'wb').write(der)
open(work + '/ranges.bin', 'wb').write(d[a:a + b] + d[c:c + n])
# The pre-signing revision is the file up to its first %%EOF: an incremental update only appends.
first = d.index(b'%%EOF') + len(b'%%EOF\n')
open(work + '/unsigned.pdf', 'wb').write(d[:first])
for key in (b'/Type /Sig', b'/Filter /Adobe.PPKLite', b'/SubFilter /ETSI.CAdES.detached', b'/SigFlags 3', b'/FT /Sig'):
    assert key in d[first:], key
assert b'/Prev ' in d[first:]
reason = re.search(rb'/Reason \(([^)]*)\)', d[first:]).group(1).decode()
open(work + '/reason.txt', 'w').write(reason + '\n')
EOF
openssl cms -verify -binary -inform DER -in "$work/sig.der" -content "$work/ranges.bin" -CAfile "$keys/lab.crt" \
  -purpose any -out /dev/null 2>"$work/cms.err" || { fail "openssl cms -verify of the extracted signature"; cat "$work/cms.err" >&2; }
openssl cms -cmsout -print -inform DER -in "$work/sig.der" >"$work/cms.txt"
grep -q "signingCertificateV2" "$work/cms.txt" || fail "CMS has the signing-certificate-v2 attribute (CAdES)"
grep -q "signingTime" "$work/cms.txt" && fail "CMS has a signing-time attribute (PAdES B-B: the time is /M)"
# The text a reader shows is the text of the PDF before it was signed.
pdftotext "$work/unsigned.pdf" "$work/unsigned.txt" && pdftotext "$pdf" "$work/signed.txt" || fail "pdftotext"
cmp -s "$work/unsigned.txt" "$work/signed.txt" || fail "the signed PDF's text differs from the unsigned one"
grep -q "ACME Automotive" "$work/signed.txt" || fail "the signed PDF renders its content"
expect_exit 2 "the unsigned revision has no signature" pdfsig "$work/unsigned.pdf"
expect_exit 0 "pdfinfo of the unsigned revision" pdfinfo "$work/unsigned.pdf"
[ "$(grep "^Pages:" "$work/out")" = "$pages" ] || fail "signing changed the page count"
# /Reason: the number and the SHA-256 the QR code carries and the log's issue entry records.
id=$(basename "$cert" .json)
hash=$(grep -o "sha256 [0-9a-f]\{64\}" "$work/signed.txt" | head -n1 | cut -d' ' -f2)
[ -n "$hash" ] || fail "the PDF names the JSON's SHA-256"
grep -q "^Certificate $id issued; .*: $hash$" "$work/reason.txt" || fail "/Reason names $id and $hash: $(cat "$work/reason.txt")"
[ "$(sqlite3 "$certs/registry.sqlite" "SELECT count(*) FROM audit WHERE event = 'issue' AND entry LIKE '%\"content_sha256\":\"$hash\"%'")" = 1 ] ||
  fail "the hash in /Reason is the one the registry's issue entry records"

# --- attacks ----------------------------------------------------------------------------------
tamper() { # offset, what
  cp "$pdf" "$work/t.pdf"
  $py -c 'import sys; p,o=sys.argv[1],int(sys.argv[2]); d=bytearray(open(p,"rb").read()); d[o]^=0x01; open(p,"wb").write(d)' \
    "$work/t.pdf" "$1"
  pdfsig -nssdir "sql:$nss" "$work/t.pdf" >"$work/t.out" 2>&1
  grep -q "Signature is Valid" "$work/t.out" && fail "pdfsig accepts a PDF with one byte changed ($2)"
  grep -q "Digest Mismatch" "$work/t.out" || fail "pdfsig names the digest mismatch ($2)"
}
read -r b c <<<"$($py -c 'import re,sys; m=re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)", open(sys.argv[1],"rb").read()); print(m.group(1).decode(), m.group(2).decode())' "$pdf")"
tamper $((b / 2)) "page content, first range"
tamper $((b - 300)) "the update's page object, first range"
tamper $((c + 20)) "signature dictionary after /Contents, second range"

# An impostor: a self-made certificate with the lab's very name, not the one the customer trusts.
expect_exit 0 "impostor keygen" "$PD_CLI" keygen -o "$work/impostor" --x509 "$lab"
lab_key "$work/impostor" # the impostor's X.509 identity beside a lab key the registry lists
certify
cert2=$new
expect_exit 0 "review 2" "$PD_CLI" approve "$cert2" --key "$work/rv/lab.key" --role reviewer
expect_exit 0 "authorize 2 (impostor)" "$PD_CLI" approve "$cert2" --key "$work/au/lab.key" --role authorizer --lab-key "$work/impostor/lab.key"
pdfsig -nssdir "sql:$nss" "${cert2%.json}.pdf" >"$work/imp.out" 2>&1
grep -q "Signature is Valid" "$work/imp.out" || fail "the impostor's signature is intact"
grep -q "Certificate is Trusted" "$work/imp.out" && fail "pdfsig trusts an impostor's certificate with the lab's name"
grep -q "Certificate Validation: " "$work/imp.out" || fail "pdfsig judges the impostor's certificate"

# A CA-issued identity as a real lab has it: an RSA key, its certificate from the lab's CA (openssl
# CLI) with the CA certificate after it in lab.crt; the customer trusts the CA only.
ca="$work/ca" rsa="$work/rsa"
mkdir -p "$ca" "$rsa"
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$ca/ca.key" -subj "/CN=Test Root CA/O=Test CA" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$ca/ca.crt" 2>/dev/null || fail "test CA"
openssl req -new -newkey rsa:2048 -nodes -keyout "$rsa/lab-x509.key" -subj "/CN=$lab/O=$lab" -out "$ca/lab.csr" \
  2>/dev/null || fail "lab CSR"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n' >"$ca/ext"
openssl x509 -req -in "$ca/lab.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial -days 30 \
  -extfile "$ca/ext" -out "$rsa/lab.crt" 2>/dev/null || fail "lab certificate from the CA"
cat "$ca/ca.crt" >>"$rsa/lab.crt"
chmod 600 "$rsa/lab-x509.key"
"$PD_CLI" keygen -o "$rsa" >/dev/null || fail "Ed25519 key beside the CA-issued identity"
lab_key "$rsa"
certify
cert6=$new
expect_exit 0 "review 6" "$PD_CLI" approve "$cert6" --key "$work/rv/lab.key" --role reviewer
expect_exit 0 "authorize 6 (CA-issued RSA)" "$PD_CLI" approve "$cert6" --key "$work/au/lab.key" --role authorizer --lab-key "$rsa/lab.key"
mkdir -p "$work/nss-ca"
certutil -N -d "sql:$work/nss-ca" --empty-password && certutil -A -d "sql:$work/nss-ca" -n ca -t "CT,C,C" -i "$ca/ca.crt" ||
  fail "CA trusted in NSS"
expect_exit 0 "pdfsig (CA-issued)" pdfsig -nssdir "sql:$work/nss-ca" "${cert6%.json}.pdf"
grep -q "Signature is Valid." "$work/out" && grep -q "Certificate is Trusted." "$work/out" ||
  { fail "pdfsig: a CA-issued RSA signature, chain in the CMS, is valid and trusted"; cat "$work/out" >&2; }

# A key others can read is refused (the JSON is issued, the PDF stays unsigned: named in the error).
chmod 644 "$work/impostor/lab-x509.key"
certify
cert3=$new
expect_exit 0 "review 3" "$PD_CLI" approve "$cert3" --key "$work/rv/lab.key" --role reviewer
expect_exit 2 "authorize with a readable X.509 key" "$PD_CLI" approve "$cert3" --key "$work/au/lab.key" --role authorizer \
  --lab-key "$work/impostor/lab.key"
grep -q "lab-x509.key.*readable by group or others" "$work/err" || fail "the readable key is named: $(cat "$work/err")"
expect_exit 2 "no signature" pdfsig "${cert3%.json}.pdf"
# Half an identity (certificate without its key) is an error naming the missing file.
chmod 600 "$work/impostor/lab-x509.key"
mv "$work/impostor/lab-x509.key" "$work/impostor/moved.key"
certify
cert4=$new
expect_exit 0 "review 4" "$PD_CLI" approve "$cert4" --key "$work/rv/lab.key" --role reviewer
expect_exit 2 "authorize with lab.crt but no lab-x509.key" "$PD_CLI" approve "$cert4" --key "$work/au/lab.key" \
  --role authorizer --lab-key "$work/impostor/lab.key"
grep -q "lab-x509.key.*missing" "$work/err" || fail "the missing key file is named: $(cat "$work/err")"
# A lab without an X.509 identity issues as before: an unsigned PDF, no error.
expect_exit 0 "keygen without --x509" "$PD_CLI" keygen -o "$work/plain"
lab_key "$work/plain"
certify
cert5=$new
expect_exit 0 "review 5" "$PD_CLI" approve "$cert5" --key "$work/rv/lab.key" --role reviewer
expect_exit 0 "authorize 5 (no X.509)" "$PD_CLI" approve "$cert5" --key "$work/au/lab.key" --role authorizer --lab-key "$work/plain/lab.key"
expect_exit 2 "no X.509, no signature" pdfsig "${cert5%.json}.pdf"

# The demo: its self-made lab certificate signs its issued PDF, which pdfsig accepts once trusted.
expect_exit 0 "demo" "$PD_CLI" demo -o "$work/demo" -q
grep -q "^PDF signer: .*/keys/lab.crt" "$work/out" || fail "the demo names its PDF signer"
mkdir -p "$work/nss-demo"
certutil -N -d "sql:$work/nss-demo" --empty-password &&
  certutil -A -d "sql:$work/nss-demo" -n demo -t "CT,C,C" -i "$work/demo/keys/lab.crt" || fail "demo certificate in NSS"
expect_exit 0 "pdfsig of the demo's PDF" pdfsig -nssdir "sql:$work/nss-demo" "$work/demo/CERT-000001.pdf"
grep -q "Signature is Valid." "$work/out" && grep -q "Certificate is Trusted." "$work/out" &&
  grep -q "Signer Certificate Common Name: $lab" "$work/out" ||
  { fail "pdfsig: the demo's PDF is validly signed by the trusted lab certificate"; cat "$work/out" >&2; }

[ "$fails" -eq 0 ] && echo "cert_pades_test: all checks passed"
exit $((fails > 0))
