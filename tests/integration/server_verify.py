"""server_verify.py — public certificate verification on `polydaq serve`: the QR code of an issued
certificate (zbarimg of a pdftoppm render) leads to the lab's page with the document hash the
registry holds (read with the sqlite3 CLI); the page and its JSON say issued, superseded by the
revision, withdrawn; drafts and unknown numbers get the same 404, byte for byte; traversal and
overlong numbers 4xx; uploads of the JSON (original, altered, reformatted, of another number, a
draft's), the PDF (original, one byte changed) and bad uploads; the published keyring and
revocation list downloaded with curl verify the certificate offline with `polydaq verify`; the
limits on unknown numbers and uploads; then the page in headless Chromium at phone width (the
fragment compared by verify.js, the upload form, nothing wider than 360 px, no console error).
With --screenshots DIR the phone-width pages are written there."""
import argparse
import atexit
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import http.client

from public_lab import LAB_NAME, certify, make_certs, publish
from server_lib import CLI, SECURITY_HEADERS, Client, Server, check, cli, failures

ap = argparse.ArgumentParser()
ap.add_argument("--screenshots", help="write PNGs of the verification pages (phone width) to this folder")
args = ap.parse_args()

BASE_URL = "https://lab.example.org/polydaq"
data = tempfile.mkdtemp(prefix="pd-verify-")
work = tempfile.mkdtemp(prefix="pd-verify-work-")
p = make_certs(data, BASE_URL)
certs = p["certs"]
server = Server(data)
base = f"http://127.0.0.1:{server.port}"
atexit.register(lambda: server.proc.poll() is None and server.proc.kill())  # also when a check raises


def http_call(method, path, body=None, ctype=None, announce=None):
    """One request sent exactly as written (with `announce`: only the headers, announcing that
    many bytes); (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest(method, path, skip_accept_encoding=True)
    if ctype:
        conn.putheader("Content-Type", ctype)
    if body is not None or announce:
        conn.putheader("Content-Length", str(announce or len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data_ = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    for k, v in SECURITY_HEADERS.items():
        check(hdrs.get(k) == v, f"{method} {path}: header {k} is {hdrs.get(k)!r}")
    return resp.status, hdrs, data_


def sql(query):
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", os.path.join(certs, "registry.sqlite"), query],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def qr_codes(pdf):
    """Every QR code on the PDF's pages, decoded by zbarimg from a 150 dpi render."""
    out = os.path.join(work, "page")
    for f in glob.glob(out + "*"):
        os.remove(f)
    subprocess.run(["pdftoppm", "-r", "150", "-png", pdf, out], check=True)
    codes = []
    for png in sorted(glob.glob(out + "*.png")):
        r = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", png], capture_output=True, text=True)
        codes += [line for line in r.stdout.splitlines() if line]
    return codes


def upload(path_or_bytes, ctype="application/json", number="CERT-000001"):
    body = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    return Client(server).call("POST", f"/api/v1/public/certificates/{number}/check", raw=body, content_type=ctype)


def multipart(filename, content, ctype):
    boundary = "----polydaqTestBoundary7MA4YWxkTrZu0gW"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {ctype}\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def no_secrets(what, body):
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    check(data not in text and "polydaq-check" not in text, f"{what}: the answer names a server path")
    check("R-1" not in text, f"{what}: the answer names the request")


issued_json = os.path.join(certs, "CERT-000001.json")
issued_pdf = os.path.join(certs, "CERT-000001.pdf")
doc = json.load(open(issued_json))
doc_hash = sql("SELECT document_sha256 FROM certificates WHERE certificate_id = 'CERT-000001'")
key_id = doc["signature"]["key_id"]

# --- The QR code leads to the lab's page, the registry's document hash as the fragment -----------
check(doc.get("verification_url") == BASE_URL + "/v/CERT-000001", f"verification_url {doc.get('verification_url')}")
codes = qr_codes(issued_pdf)
check(codes == [f"{BASE_URL}/v/CERT-000001#{doc_hash}"], f"QR codes {codes}, expected the page with #{doc_hash}")
text = subprocess.run(["pdftotext", issued_pdf, "-"], capture_output=True, text=True).stdout
check(f"{BASE_URL}/v/CERT-000001" in text and doc_hash in text, "the PDF prints the page's address and the hash")

# --- The page and its JSON: issued --------------------------------------------------------------
st, hdrs, page = http_call("GET", "/v/CERT-000001")
html = page.decode()
check(st == 200 and hdrs.get("content-type") == "text/html; charset=utf-8", f"/v/CERT-000001: {st} {hdrs}")
check('data-status="issued"' in html and "Issued and valid" in html, "the page says issued")
issued_readable = f"{doc['issued'][:10]} {doc['issued'][11:19]} UTC"
for want in (LAB_NAME, key_id, doc["signature"]["public_key"], doc_hash, issued_readable):
    check(want in html, f"the page shows {want!r}")
check('name="viewport"' in html and '<html lang="en">' in html and '<label for="file">' in html,
      "the page has a viewport, a language and a labelled file input")
no_secrets("the page", html)
check("ACME" not in html and "Viewer" not in html and "Boss" not in html, "the page names no customer or person")
st, _, body = Client(server).call("GET", "/api/v1/public/certificates/CERT-000001")
check(st == 200 and body["status"] == "issued" and body["document_sha256"] == doc_hash and
      body["signing_key"]["key_id"] == key_id and body["lab"] == LAB_NAME and body["issued"] == doc["issued"],
      f"the JSON: {st} {body}")

# --- A draft and a number never used: the same 404 ----------------------------------------------
st2, _, draft_page = http_call("GET", "/v/CERT-000002")
st9, _, none_page = http_call("GET", "/v/CERT-000999")
check(st2 == 404 and st9 == 404 and draft_page == none_page, "a draft's page and an unknown number's are the same 404")
check(b"CERT-000002" not in draft_page, "the draft's 404 does not repeat its number")
st2, _, d = http_call("GET", "/api/v1/public/certificates/CERT-000002")
st9, _, n = http_call("GET", "/api/v1/public/certificates/CERT-000999")
check(st2 == st9 == 404 and d == n, f"the JSON of a draft and of an unknown number: {st2} {d} / {st9} {n}")

# --- Names that are not a certificate number ----------------------------------------------------
for path in ("/v/..%2fCERT-000001", "/v/CERT-000001/..", "/v/CERT-0000012345678", "/v/CERT-1", "/v/cert-000001",
             "/v/CERT-000001%00", "/v/CERT-000001%2f", "/v/%2e%2e/%2e%2e/etc/passwd", "/v/CERT-00000a",
             "/v/" + "9" * 3000, "/api/v1/public/certificates/../../me", "/v/CERT-000001/check/x"):
    st, _, _ = http_call("GET", path)
    check(400 <= st < 500, f"GET {path[:60]}: {st}, expected 4xx")

# --- Uploads ---------------------------------------------------------------------------------------
st, _, r = upload(issued_json)
check(st == 200 and r["verdict"] == "valid" and r["certificate"] == "CERT-000001", f"the original JSON: {r}")
check("ok: the document is the one the registry issued" in r.get("checks", []), f"checks: {r.get('checks')}")
no_secrets("a check's answer", json.dumps(r))
original = open(issued_json, "rb").read()
altered = original.replace(b'"customer": "ACME Automotive"', b'"customer": "ACME Automotivf"')
check(altered != original, "test setup: the customer line is in the certificate")
st, _, r = upload(altered)
check(st == 200 and r["verdict"] == "altered" and any(c.startswith("FAIL: ") and "signature" in c for c in r["checks"]),
      f"an altered JSON: {r}")
reformatted = json.dumps(json.loads(original), indent=4).encode()
st, _, r = upload(reformatted)
check(st == 200 and r["verdict"] == "altered" and "exact form" in r["reason"], f"a reformatted JSON: {r}")
no_secrets("a reformatted JSON's answer", json.dumps(r))
st, _, r_unknown = upload(original.replace(b'"certificate_id": "CERT-000001"', b'"certificate_id": "CERT-000777"'))
check(st == 200 and r_unknown["verdict"] == "not_ours" and "CERT-000777" in r_unknown["reason"],
      f"an unknown number: {r_unknown}")
# another lab (its own keys and registry) numbers from CERT-000001 too: its certificate is not ours
other = tempfile.mkdtemp(prefix="pd-verify-other-")
other_lab = make_certs(other, "https://other.example.org", run=p["run"])
st, _, r = upload(os.path.join(other_lab["certs"], "CERT-000001.json"))
check(st == 200 and r["verdict"] == "not_ours" and "not this laboratory's" in r["reason"],
      f"another lab's CERT-000001: {r}")
shutil.rmtree(other)
shutil.rmtree(other_lab["keys"])
st, _, r_draft = upload(os.path.join(certs, "CERT-000002.json"))
check(st == 200 and r_draft["verdict"] == "not_ours" and "registry" not in r_draft and
      r_draft["reason"] == r_unknown["reason"].replace("CERT-000777", "CERT-000002"),
      f"a draft's JSON is answered like an unknown number: {r_draft}")
st, _, r = upload(issued_pdf, "application/pdf")
check(st == 200 and r["verdict"] == "valid", f"the PDF: {r}")
pdf = bytearray(open(issued_pdf, "rb").read())
pdf[len(pdf) // 2] ^= 0x01
st, _, r = upload(bytes(pdf), "application/pdf")
check(st == 200 and r["verdict"] == "altered", f"a PDF with one byte changed: {r}")
body, ctype = multipart("CERT-000001.json", original, "application/json")
st, hdrs, page = http_call("POST", "/v/CERT-000001/check", body, ctype)
check(st == 200 and b'data-verdict="valid"' in page and hdrs["content-type"].startswith("text/html"),
      f"the page's form upload: {st} {page[:300]!r}")
no_secrets("the form's answer", page)
st, _, _ = http_call("POST", "/api/v1/public/certificates/CERT-000001/check", original, "text/plain")
check(st == 415, f"a text/plain upload: {st}")
st, _, _ = http_call("POST", "/api/v1/public/certificates/CERT-000001/check", b"", "application/json")
check(st == 400, f"an empty upload: {st}")
st, _, _ = http_call("POST", "/api/v1/public/certificates/CERT-000001/check", b"hello", "application/json")
check(st == 415, f"an upload that is neither JSON nor PDF: {st}")
st, _, _ = http_call("POST", "/api/v1/public/certificates/CERT-000001/check", None, "application/json",
                     announce=(4 << 20) + 1)
check(st == 413, f"an upload over 4 MiB: {st}")
st, _, _ = http_call("POST", "/api/v1/public/certificates/CERT-000002/check", original, "application/json")
check(st == 404, f"the check on a draft's page: {st}")

# --- The published keys, downloaded, verify the certificate offline ------------------------------
def download(name):
    out = os.path.join(work, name)
    r = subprocess.run(["curl", "-sSf", "-o", out, f"{base}/keys/{name}"], capture_output=True, text=True)
    check(r.returncode == 0, f"curl {name}: {r.stderr}")
    return out


keyring, revocations = download("keyring.txt"), download("revocations.json")
check(open(keyring, "rb").read() == open(os.path.join(p["public"], "keyring.txt"), "rb").read(),
      "the keyring served is the one published")
copy = os.path.join(work, "CERT-000001.json")
shutil.copy(issued_json, copy)
r = cli("verify", copy, "--keyring", keyring, "--revocations", revocations)
check(r.returncode == 0 and "VERIFIED" in r.stdout, f"offline verify with the downloaded keys: {r.returncode} {r.stdout}")

# --- A revision supersedes it --------------------------------------------------------------------
revision = certify(p, revises="CERT-000001")
check(revision == "CERT-000003", f"the revision is {revision}")
st, _, page = http_call("GET", "/v/CERT-000001")
html = page.decode()
check(st == 200 and 'data-status="superseded"' in html and "Superseded by CERT-000003" in html and
      'href="/v/CERT-000003"' in html and "misspelt" in html, f"the superseded page: {html[:1500]}")
st, _, body = Client(server).call("GET", "/api/v1/public/certificates/CERT-000001")
check(body["status"] == "superseded" and body["superseded_by"] == "CERT-000003" and "misspelt" in body["reason"],
      f"the superseded JSON: {body}")
st, _, r = upload(issued_json)
check(r["verdict"] == "superseded" and "CERT-000003" in r["reason"], f"the superseded JSON uploaded: {r}")
publish(p)
revocations = download("revocations.json")
r = cli("verify", copy, "--keyring", keyring, "--revocations", revocations)
check(r.returncode == 1 and "superseded by CERT-000003" in r.stdout, f"offline verify after the revision: {r.stdout}")

# --- Withdrawn -------------------------------------------------------------------------------------
r = cli("registry", "withdraw", revision, "-o", certs, "--reason", "specimens mixed up", "--key", p["authorizer"])
check(r.returncode == 0, f"withdraw: {r.stderr}")
st, _, page = http_call("GET", f"/v/{revision}")
html = page.decode()
check(st == 200 and 'data-status="withdrawn"' in html and "Withdrawn on" in html and "specimens mixed up" in html,
      f"the withdrawn page: {html[:1500]}")
st, _, r = upload(os.path.join(certs, revision + ".json"), number=revision)
check(r["verdict"] == "withdrawn" and "specimens mixed up" in r["reason"], f"the withdrawn JSON uploaded: {r}")

# --- Without a base URL the QR code carries the number and hash, as before ---------------------------
check(cli("registry", "set-url", "", "-o", certs).returncode == 0, "set-url '' removes the URL")
old_style = certify(p, issue=False)
codes = qr_codes(os.path.join(certs, old_style + ".pdf"))
check(len(codes) == 1 and re.fullmatch(rf"polydaq-certificate:{old_style};sha256:[0-9a-f]{{64}}", codes[0]),
      f"QR without a base URL: {codes}")
check(cli("registry", "set-url", "ftp://x", "-o", certs).returncode == 2, "set-url refuses another scheme (exit 2)")


# --- Chromium at phone width -------------------------------------------------------------------------
def http_only_end():
    server.stop()
    if failures:
        sys.exit(1)  # the HTTP checks failed: not a skip


from selenium.webdriver.common.by import By  # noqa: E402 (after the HTTP checks, which need no browser)

from web_lib import Browser  # noqa: E402

browser = Browser(base, args.screenshots, on_skip=http_only_end)
driver = browser.driver
try:
    driver.set_window_size(360, 740)
    # a current certificate: revision CERT-000003 is withdrawn, CERT-000001 superseded; issue one more
    current = certify(p)
    current_hash = sql(f"SELECT document_sha256 FROM certificates WHERE certificate_id = '{current}'")
    driver.get(f"{base}/v/{current}#{current_hash}")
    browser.wait_heading(f"Certificate {current}", "the verification page")
    browser.wait_text("#hash-check", "matches", "verify.js compares the fragment")
    check(driver.find_element(By.ID, "hash-check").get_attribute("data-match") == "yes", "the fragment matches")
    check("Issued and valid" in driver.find_element(By.ID, "status").text, "the page says issued in the browser")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, f"the verification page is {overflow} px wider than a 360 px screen")
    browser.shot("verify-phone")
    driver.get(f"{base}/v/{current}#{'0' * 64}")
    browser.wait_text("#hash-check", "does NOT match", "a wrong fragment")
    # the upload form, as a phone's user would use it
    driver.get(f"{base}/v/{current}")
    browser.wait_heading(f"Certificate {current}", "the page again")
    driver.find_element(By.ID, "file").send_keys(os.path.join(certs, current + ".json"))
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    browser.wait_heading("Certificate check", "the check's answer")
    check(driver.find_element(By.ID, "verdict").get_attribute("data-verdict") == "valid", "the browser upload is valid")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, f"the check's answer is {overflow} px wider than a 360 px screen")
    browser.shot("verify-check-phone")
    driver.get(f"{base}/v/CERT-000001")
    browser.wait_heading("Certificate CERT-000001", "the superseded page")
    check("Superseded by CERT-000003" in driver.find_element(By.ID, "status").text, "superseded in the browser")
    browser.shot("verify-superseded-phone")
    driver.get(f"{base}/v/CERT-000002")
    browser.wait_heading("Certificate not found", "a draft's page")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and not re.search(r"/v/CERT-000002 - Failed to load resource: the server responded with a status of 404",
                                e["message"])]
    check(not errors, f"browser console errors: {errors}")
finally:
    browser.quit()

# --- Limits: uploads, then unknown numbers (a client held back for those waits for everything) -------
statuses = []
for i in range(25):
    st, _, _ = http_call("POST", f"/api/v1/public/certificates/{current}/check", b"{}", "application/json")
    statuses.append(st)
    if st == 429:
        break
check(statuses[-1] == 429 and set(statuses[:-1]) <= {200}, f"uploads: {statuses}")

statuses = []
for i in range(40):
    st, hdrs, _ = http_call("GET", f"/api/v1/public/certificates/CERT-{900000 + i}")
    statuses.append(st)
    if st == 429:
        check(int(hdrs.get("retry-after", "0")) > 0, "a throttled lookup says when to come back")
        break
check(statuses[-1] == 429 and set(statuses[:-1]) == {404}, f"unknown numbers looked up: {statuses}")
rc = server.stop()
check(rc == 0, f"polydaq serve exit {rc}")
if not failures:
    shutil.rmtree(data)
    shutil.rmtree(work)
    shutil.rmtree(p["keys"])
print(f"public verification: {len(failures)} failure(s)", file=sys.stderr)
sys.exit(1 if failures else 0)
