"""server_items.py — the second increment of the lab server over real HTTP: item receipt with
lab-wide ids, the label sheet (its text read back with pdftotext, its QR codes decoded with zbarimg
from a pdftoppm render), complaints and their append-only history, and e-mail notices through the
outbox to a local SMTP sink: the right recipients only, proper headers, retried while the relay is
down, and sent after a kill -9 that came between the change and its delivery."""
import atexit
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from server_lib import (ACCOUNTS, PASSWORDS, REVIEW, Client, Server, check, cli, fail, finish, make_lab,
                        new_request, register_certificates)

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink:
    def __init__(self, port, folder):
        self.port, self.folder = port, folder
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "smtp_sink.py"), str(self.port),
                                      self.folder], stdout=subprocess.PIPE, text=True)
        children.append(self.proc)
        assert self.proc.stdout.readline().strip() == "ready", "the SMTP sink did not start"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def messages(self):
        out = []
        for f in sorted(os.listdir(self.folder), key=lambda f: int(f.split(".")[0]) if f[0].isdigit() else 0):
            if f.endswith(".json"):
                with open(os.path.join(self.folder, f)) as fh:
                    m = json.load(fh)
                m["msg"] = email.message_from_bytes(m["content"].encode(), policy=email.policy.default)
                out.append(m)
        return out

    def wait_for(self, pred, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if pred(m)]
            if found:
                return found
            time.sleep(0.1)
        fail(f"no mail: {what}")
        return []


def q(data, sql):
    # a busy timeout: the server's threads (the mail sender marking a message sent) may hold the
    # write lock for a moment, and the CLI would answer "database is locked" at once
    return subprocess.run(["sqlite3", "-cmd", ".timeout 10000", os.path.join(data, "server.sqlite"), sql],
                          capture_output=True, text=True)


children = []


@atexit.register
def no_orphans():  # a failed check must not leave a server or the sink running
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()


data, member_a, member_b = make_lab()
mails = tempfile.mkdtemp(prefix="pd-mails-")
sink = Sink(free_port(), mails)
sink.start()
relay = ["--smtp", f"smtp://127.0.0.1:{sink.port}", "--mail-from", "lab@polydaq.example"]
server = Server(data, *relay)
children.append(server.proc)
s = {role: Client(server, login, PASSWORDS[login]) for role, (login, *_r) in ACCOUNTS.items()}
alice, bruno, tessa, rita, ada = s["member A"], s["member B"], s["technician"], s["reviewer"], s["admin"]

# Contacts with addresses: two of A (one disabled later), one of B; staff get no notices.
contacts = {}
for login, member, addr in (("carla", member_a, "carla@acme.example"), ("dora", member_a, "dora@acme.example"),
                            ("bea", member_b, "bea@beta.example")):
    st, _, body = ada.call("POST", "/api/v1/users", {"login": login, "name": login.title(), "role": "member",
                                                     "member_id": member, "password": "a-long-enough-password",
                                                     "email": addr})
    check(st == 201, f"contact {login}: {st} {body}")
    contacts[login] = body["id"]
st, _, body = ada.call("POST", "/api/v1/users", {"login": "eve", "name": "Eve", "role": "member",
                                                 "member_id": member_a, "password": "a-long-enough-password",
                                                 "email": "eve@acme.example\r\nBcc: x@evil.example"})
check(st == 400 and "email" in body["error"]["message"], f"an address with a header injection: {st} {body}")
st, _, _ = ada.call("POST", f"/api/v1/users/{contacts['dora']}/disable")
check(st == 200, "disabling dora")

# ---- A request accepted: its member's enabled contacts are told, nobody else --------------------------
material = "PP H350 natur, Würfel Ø 4 mm"  # non-ASCII: the subject is RFC 2047 encoded
req = new_request(alice, material)
st, _, body = rita.call("POST", f"/api/v1/requests/{req}/accept", REVIEW)
check(st == 200, f"accept: {st}")
got = sink.wait_for(lambda m: f"Request {req}: accepted" in str(m["msg"]["subject"]), "request accepted")
for m in got:
    msg = m["msg"]
    check(m["rcpt_tos"] == ["carla@acme.example"], f"accepted notice went to {m['rcpt_tos']}")
    check(m["mail_from"] == "lab@polydaq.example", f"envelope sender {m['mail_from']}")
    check(msg["To"] == "carla@acme.example" and msg["From"] == "lab@polydaq.example", "To/From headers")
    check(msg["Date"] is not None and re.match(r"<[0-9a-f]{32}@polydaq\.invalid>", msg["Message-ID"] or ""),
          f"Date / Message-ID: {msg['Date']} {msg['Message-ID']}")
    check(msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8", "plain UTF-8 text")
    raw_subject = re.search(r"^Subject: (.*(?:\r?\n .*)*)", m["content"], re.M).group(1)
    check(raw_subject.startswith("=?UTF-8?B?") and all(ord(c) < 128 for c in raw_subject),
          f"a non-ASCII subject is sent encoded: {raw_subject!r}")
    check(material in str(msg["subject"]), f"decoded subject {msg['subject']!r}")
    check(material in msg.get_content(), "the body names the material")
    for secret in ["pd_session", "csrf", *PASSWORDS.values(), "a-long-enough-password"]:
        check(secret not in m["content"], f"the notice carries {secret!r}")

# ---- Items: received by the technician, numbered lab-wide, the request moves on ---------------------
st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/items", {
    "count": 3, "description": "tensile bars 1A", "condition": "sealed bag, dry, undamaged", "conforming": True,
    "storage": "cabinet 2, shelf B"})
check(st == 201 and len(body["items"]) == 3, f"receive 3 items: {st} {body}")
st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/items", {
    "description": "tensile bar 1A", "condition": "bag torn, one bar bent", "conforming": False,
    "storage": "quarantine shelf"})
check(st == 201 and len(body["items"]) == 4, f"receive a damaged item: {st}")
items = body["items"]
codes = [i["item_id"] for i in items]
check(all(re.fullmatch(r"IT-\d{4}-\d{6}", c) for c in codes) and len(set(codes)) == 4, f"item ids {codes}")
check([i["conforming"] for i in items] == [True, True, True, False], "conformity recorded per item")
check(all(i["received_by"] == "tessa" and i["request_id"] == req for i in items), "received by, request")
st, _, body = alice.call("GET", f"/api/v1/requests/{req}")
check(body["state"] == "items received", f"request state after receipt: {body['state']}")
st, _, body = alice.call("GET", f"/api/v1/requests/{req}/items")
check(st == 200 and [i["item_id"] for i in body["items"]] == codes, "member A reads its items")
st, _, body = alice.call("GET", f"/api/v1/items/{items[0]['id']}")
check(st == 200 and body["item_id"] == codes[0], "member A reads one item")
for path in (f"/api/v1/requests/{req}/items", f"/api/v1/items/{items[0]['id']}",
             f"/api/v1/requests/{req}/labels.pdf"):
    st, _, body = bruno.call("GET", path)
    check(st == 404 and body["error"]["message"].startswith("no such"), f"member B: {path}: {st} {body}")
st, _, _ = alice.call("POST", f"/api/v1/requests/{req}/items", {
    "description": "x", "condition": "x", "conforming": True, "storage": "x"})
check(st == 403, f"a member records a receipt: {st}")
sink.wait_for(lambda m: "please reply" in str(m["msg"]["subject"]) and m["rcpt_tos"] == ["carla@acme.example"],
              "the member is asked about the non-conforming item")
check(all(codes[3] in m["msg"].get_content() for m in sink.messages() if "please reply" in str(m["msg"]["subject"])),
      "the non-conforming notice names the item")

# Ids are never reused: another request's items continue the count; receipt needs an accepted request.
req2 = new_request(alice, "PA6 GF30")
st, _, body = tessa.call("POST", f"/api/v1/requests/{req2}/items", {
    "description": "x", "condition": "ok", "conforming": True, "storage": "x"})
check(st == 409, f"items for a submitted request: {st} {body}")
rita.call("POST", f"/api/v1/requests/{req2}/accept", REVIEW)
st, _, body = tessa.call("POST", f"/api/v1/requests/{req2}/items", {
    "description": "plaques", "condition": "ok", "conforming": True, "storage": "x"})
code5 = body["items"][0]["item_id"]
check(st == 201 and int(code5[-6:]) == int(codes[-1][-6:]) + 1, f"the next item id {code5} after {codes[-1]}")
for bad in ({"description": "x", "condition": "ok", "conforming": "yes", "storage": "x"},
            {"description": "x", "condition": "ok", "conforming": True, "storage": "x", "count": 0},
            {"description": "x", "condition": "ok", "conforming": True, "storage": "x", "count": 101},
            {"description": "", "condition": "ok", "conforming": True, "storage": "x"},
            {"description": "x", "condition": "ok", "conforming": True, "storage": "x", "code": "IT-1"}):
    n_before = q(data, "SELECT count(*) FROM items").stdout
    st, _, body = tessa.call("POST", f"/api/v1/requests/{req2}/items", bad)
    check(st == 400 and q(data, "SELECT count(*) FROM items").stdout == n_before, f"bad receipt {bad}: {st}")

# ---- The label sheet: every item id as text, every QR code decodes to its item id --------------------
st, hdrs, pdf = tessa.call("GET", f"/api/v1/requests/{req}/labels.pdf")
check(st == 200 and hdrs["content-type"] == "application/pdf", f"labels: {st} {hdrs.get('content-type')}")
st_a, _, pdf_a = alice.call("GET", f"/api/v1/requests/{req}/labels.pdf")
check(st_a == 200 and isinstance(pdf_a, bytes), "member A prints its own labels")
work = tempfile.mkdtemp(prefix="pd-labels-")
with open(os.path.join(work, "labels.pdf"), "wb") as f:
    f.write(pdf)
text = subprocess.run(["pdftotext", "-layout", os.path.join(work, "labels.pdf"), "-"], capture_output=True,
                      text=True).stdout
check(all(c in text for c in codes), f"pdftotext does not list every item id: {text!r}")
check("Acme Polymers GmbH" in text and f"Request {req}" in text, "labels name the member and the request")
info = subprocess.run(["pdfinfo", os.path.join(work, "labels.pdf")], capture_output=True, text=True).stdout
check(re.search(r"Page size:\s+595\.\d* x 841\.\d*", info) is not None, f"not A4: {info}")
if shutil.which("zbarimg"):
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-png", os.path.join(work, "labels.pdf"),
                    os.path.join(work, "page")], check=True)
    pages = sorted(f for f in os.listdir(work) if f.startswith("page"))
    z = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable",
                        *[os.path.join(work, p) for p in pages]], capture_output=True, text=True)
    decoded = sorted(z.stdout.split())
    check(decoded == sorted(codes), f"QR codes decode to {decoded}, the items are {sorted(codes)}")
else:
    print("note: zbarimg missing (Debian zbar-tools): QR codes not decoded", file=sys.stderr)
# Receipts at the same time by four people: every id given once, none skipped.
req3c = new_request(alice, "POM")
rita.call("POST", f"/api/v1/requests/{req3c}/accept", REVIEW)
got_ids, lock = [], threading.Lock()


def receive_five(login):
    c = Client(server, login, PASSWORDS[login])
    st, _, body = c.call("POST", f"/api/v1/requests/{req3c}/items", {
        "count": 5, "description": f"by {login}", "condition": "ok", "conforming": True, "storage": "x"})
    with lock:
        got_ids.append((st, [i["item_id"] for i in body["items"] if i["description"] == f"by {login}"]
                        if st == 201 else body))


threads = [threading.Thread(target=receive_five, args=(login,)) for login in ("tessa", "rita", "arno", "ada")]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(all(st == 201 for st, _ in got_ids), f"concurrent receipts: {got_ids}")
numbers = sorted(int(c[-6:]) for _, ids in got_ids if isinstance(ids, list) for c in ids)
check(len(numbers) == 20 and numbers == list(range(numbers[0], numbers[0] + 20)),
      f"concurrent receipts gave {numbers}")

# More items than one sheet holds: a second page, every id on it.
st, _, body = tessa.call("POST", f"/api/v1/requests/{req2}/items", {
    "count": 30, "description": "plaques 60 × 60 mm", "condition": "ok", "conforming": True, "storage": "B2"})
check(st == 201 and len(body["items"]) == 31, f"30 more items: {st}")
codes2 = [i["item_id"] for i in body["items"]]
st, _, pdf2 = tessa.call("GET", f"/api/v1/requests/{req2}/labels.pdf")
with open(os.path.join(work, "labels2.pdf"), "wb") as f:
    f.write(pdf2)
info = subprocess.run(["pdfinfo", os.path.join(work, "labels2.pdf")], capture_output=True, text=True).stdout
check(re.search(r"^Pages:\s+2$", info, re.M) is not None, f"31 labels on 2 sheets: {info}")
text = subprocess.run(["pdftotext", "-layout", os.path.join(work, "labels2.pdf"), "-"], capture_output=True,
                      text=True).stdout
check(all(c in text for c in codes2) and not any(c in text for c in codes), "the second request's sheet: its ids only")
st, _, body = tessa.call("GET", f"/api/v1/requests/{new_request(alice, 'no items yet')}/labels.pdf")
check(st == 409, f"labels of a request without items: {st}")

# ---- Complaints ----------------------------------------------------------------------------------------
# A complaint names a certificate the lab issued: unknown numbers, a draft and no registry at all
# answer 422 naming the field (the same answer each time: nothing learnt about other numbers).
unknown = {"request_id": req, "subject": "Modulus too low?", "description": "x"}
st, _, body = alice.call("POST", "/api/v1/complaints", {**unknown, "certificate_number": "CERT-000041"})
check(st == 422 and "field 'certificate_number'" in body["error"]["message"], f"complaint before any registry: {st} {body}")
register_certificates(data, ["CERT-000041", "CERT-000057"])
register_certificates(data, ["CERT-000058"], status="draft")
complaints_before = q(data, "SELECT count(*) FROM complaints").stdout
for number in ("CERT-000042", "CERT-000058", "CERT-0000410"):
    st, _, body = alice.call("POST", "/api/v1/complaints", {**unknown, "certificate_number": number})
    check(st == 422 and body["error"]["message"] == f"field 'certificate_number': {number} is not a certificate issued "
          "by the laboratory to your company", f"complaint about {number}: {st} {body}")
check(q(data, "SELECT count(*) FROM complaints").stdout == complaints_before, "a refused complaint stored nothing")
st, _, c = alice.call("POST", "/api/v1/complaints", {
    "request_id": req, "certificate_number": "CERT-000041", "subject": "Modulus too low?",
    "description": "Our own test gives 1.6 GPa; the certificate says 1.4 GPa."})
check(st == 201 and c["state"] == "received" and c["certificate_number"] == "CERT-000041", f"complaint: {st} {c}")
cid = c["id"]
for bad, why in (({"request_id": req, "certificate_number": "CERT-1;DROP", "subject": "x", "description": "x"},
                  "certificate number"),
                 ({"request_id": req, "subject": "", "description": "x"}, "empty subject"),
                 ({"request_id": req, "subject": "x", "description": "x", "state": "closed"}, "unknown field")):
    st, _, body = alice.call("POST", "/api/v1/complaints", bad)
    check(st == 400, f"complaint with {why}: {st} {body}")
st, _, body = bruno.call("POST", "/api/v1/complaints", {"request_id": req, "subject": "x", "description": "x"})
check(st == 404, f"member B complains about A's request: {st}")
st, _, body = bruno.call("GET", f"/api/v1/complaints/{cid}")
check(st == 404, f"member B reads A's complaint: {st}")
st, _, body = bruno.call("GET", "/api/v1/complaints")
check(st == 200 and body["complaints"] == [], f"member B's complaint list: {body}")
st, _, body = tessa.call("POST", f"/api/v1/complaints/{cid}/close", {"outcome": "x"})
check(st == 403, f"a technician closes: {st}")
st, _, body = rita.call("POST", f"/api/v1/complaints/{cid}/close", {"outcome": "x"})
check(st == 409, f"closing before acknowledging: {st}")
# A line holding only "." (SMTP's end of data unless escaped) and a 2000-byte line (SMTP allows 998).
LONG_FINDINGS = "re-evaluated with the extensometer channel\n.\n" + "Ä" * 1000 + "\nend of findings"
steps = (
    (tessa, "acknowledge", {"note": "we are checking the raw data"}, "acknowledged"),
    (tessa, "investigation", {"findings": "specimen 3 slipped; strain from crosshead"}, "investigating"),
    (tessa, "investigation", {"findings": LONG_FINDINGS}, "investigating"),
    (rita, "close", {"outcome": "certificate revised as CERT-000057"}, "closed"),
)
for who, action, body_in, state in steps:
    st, _, body = who.call("POST", f"/api/v1/complaints/{cid}/{action}", body_in)
    check(st == 200 and body["state"] == state, f"complaint {action}: {st} {body}")
st, _, body = alice.call("POST", f"/api/v1/complaints/{cid}/acknowledge", {})
check(st == 403, f"a member acknowledges: {st}")
st, _, body = rita.call("POST", f"/api/v1/complaints/{cid}/acknowledge", {})
check(st == 409, f"acknowledging a closed complaint: {st}")
st, _, body = alice.call("GET", f"/api/v1/complaints/{cid}")
check(st == 200 and body["state"] == "closed" and body["outcome"] == "certificate revised as CERT-000057",
      f"member A sees the outcome: {body}")
hist = [(h["by"], h["action"]) for h in body["history"]]
check(hist == [("alice", "received"), ("tessa", "acknowledged"), ("tessa", "investigation"),
               ("tessa", "investigation"), ("rita", "closed")], f"history {hist}")
check(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h["at"]) for h in body["history"]), "history times")
for sql in ("UPDATE complaint_events SET detail = 'nothing'", "DELETE FROM complaint_events"):
    r = q(data, sql)
    check(r.returncode != 0 and "append-only" in r.stderr, f"{sql}: {r.returncode} {r.stderr}")
sink.wait_for(lambda m: f"Complaint {cid}: closed" in str(m["msg"]["subject"]), "complaint closed")
check(len([m for m in sink.messages() if f"Complaint {cid}:" in str(m["msg"]["subject"])]) == 5,
      "one notice per complaint step")
long_mail = [m for m in sink.messages() if "extensometer" in m["content"]]
if check(len(long_mail) == 1, "the notice with the long findings"):
    content = long_mail[0]["content"]
    check(all(len(line.encode()) <= 998 for line in content.splitlines()), "a line over 998 bytes was sent")
    body = long_mail[0]["msg"].get_content()
    check("\n.\n" in body.replace("\r\n", "\n") and "end of findings" in body,
          "a line of one dot ended the message early")
    check(body.replace("\r\n", "\n").replace("\n", "").count("Ä") == 1000, "the long line arrived whole")

# ---- Another member's contacts never receive A's notices; B's own arrive -------------------------------
reqb = new_request(bruno, "ABS")
rita.call("POST", f"/api/v1/requests/{reqb}/reject", {"reason": "no capacity before the due date"})
sink.wait_for(lambda m: f"Request {reqb}: rejected" in str(m["msg"]["subject"]), "B's rejection")
for m in sink.messages():
    subject = str(m["msg"]["subject"])
    about_b = f"Request {reqb}:" in subject
    check(m["rcpt_tos"] == (["bea@beta.example"] if about_b else ["carla@acme.example"]),
          f"{subject!r} went to {m['rcpt_tos']}")
    check(len(m["rcpt_tos"]) == 1 and m["msg"]["To"] == m["rcpt_tos"][0], "one recipient per message")

# ---- The relay down: retried with backoff, delivered when it is back ---------------------------------
sink.stop()
req3 = new_request(alice, "PE-HD")
st, _, _ = rita.call("POST", f"/api/v1/requests/{req3}/reject", {"reason": "relay test"})
check(st == 200, "a change answers while the relay is down")
for _ in range(600):
    r = q(data, "SELECT attempts, last_error IS NOT NULL FROM outbox WHERE subject LIKE 'Request "
                f"{req3}:%' AND sent_at IS NULL").stdout.strip()
    if r and int(r.split("|")[0]) >= 2:
        break
    time.sleep(0.1)
check(r and int(r.split("|")[0]) >= 2 and r.endswith("|1"), f"the notice was not retried: {r!r}")
sink.start()
sink.wait_for(lambda m: f"Request {req3}: rejected" in str(m["msg"]["subject"]), "delivered after the relay is back")
for _ in range(300):  # marked sent (a stop between the relay's receipt and the mark may send it twice)
    if q(data, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").stdout.strip() == "0":
        break
    time.sleep(0.1)
rc = server.stop()
check(rc == 0, f"serve exit {rc}")

# ---- kill -9 between the change and its delivery: sent after the restart -------------------------------
server = Server(data)  # no relay: the notice stays in the outbox
children.append(server.proc)
alice, rita = Client(server, "alice", PASSWORDS["alice"]), Client(server, "rita", PASSWORDS["rita"])
req4 = new_request(alice, "PC")
st, _, _ = rita.call("POST", f"/api/v1/requests/{req4}/accept", REVIEW)
check(st == 200, "accept before the kill")
server.proc.send_signal(signal.SIGKILL)
server.proc.wait()
server.log.close()
server.err.close()
check(q(data, "PRAGMA integrity_check").stdout.strip() == "ok", "integrity after kill -9")
server = Server(data, *relay)
children.append(server.proc)
sink.wait_for(lambda m: f"Request {req4}: accepted" in str(m["msg"]["subject"]), "sent after the restart")
# Item ids go on after the kill: the next is one above the highest ever given.
highest = int(q(data, "SELECT max(CAST(substr(code, 9) AS INTEGER)) FROM items").stdout)
tessa = Client(server, "tessa", PASSWORDS["tessa"])
st, _, body = tessa.call("POST", f"/api/v1/requests/{req4}/items", {
    "description": "x", "condition": "ok", "conforming": True, "storage": "x"})
check(st == 201 and int(body["items"][0]["item_id"][-6:]) == highest + 1, f"item id after the restart: {body}")
unsent = q(data, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").stdout.strip()
for _ in range(100):
    if unsent == "0":
        break
    time.sleep(0.1)
    unsent = q(data, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").stdout.strip()
check(unsent == "0", f"{unsent} notices left unsent")
ids = [m["msg"]["Message-ID"] for m in sink.messages()]
check(len(ids) == len(set(ids)), "each delivered message has its own Message-ID")
rc = server.stop()
check(rc == 0, f"serve exit {rc}")

# serve: --smtp without --mail-from, or a relay that is no smtp:// URL → exit 2, nothing started.
for args in (["--smtp", "smtp://127.0.0.1:25"], ["--smtp", "http://x", "--mail-from", "lab@x.example"],
             ["--smtp", "smtp://127.0.0.1:25", "--mail-from", "not an address"]):
    r = cli("serve", "--data", data, "--listen", "127.0.0.1:0", *args)
    check(r.returncode == 2 and ("--smtp" in r.stderr or "--mail-from" in r.stderr), f"serve {args}: {r.returncode} {r.stderr}")

sink.stop()
shutil.rmtree(data)
shutil.rmtree(mails)
shutil.rmtree(work)
finish()
