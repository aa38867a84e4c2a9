"""server_certs.py — runs, certification, review and authorization with personal keys on the lab
server over real HTTP, and the defences around them: a damaged or foreign upload refused with
nothing kept, path traversal in run and spec names, another member's runs and certificates
answering 404 everywhere, a draft hidden from the member, a forged CSRF token, a reviewer who
tries to authorize, a key that a wrong password cannot open, a reset password that gets a new
key (the old one disabled in the registry, its approvals still valid), the member's notices in
the outbox, and no secret key in server.sqlite: every 32-byte window of the file (checkpointed)
is tried as an Ed25519 seed against the registered persons' public keys."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from server_lib import (PASSWORDS, REVIEW, Client, Server, check, cli, finish, make_certs, make_run, new_request)

work = tempfile.mkdtemp(prefix="pd-certs-")
data = os.path.join(work, "lab")
certs = os.path.join(data, "certs")


def must(r, what):
    if r.returncode != 0:
        raise SystemExit(f"{what}: exit {r.returncode}: {r.stderr}")
    return r


# ---- the lab: registry with the lab key and the demo station, a spec, members and people ---------
os.makedirs(data)
cfg = make_certs(data)
ids = {}
for name in ("Acme Polymers GmbH", "Beta Plastics AG"):
    ids[name] = int(must(cli("member", "add", "--data", data, name), "member").stdout)
PEOPLE = [("alice", "Alice Acme", "member", "Acme Polymers GmbH"), ("bruno", "Bruno Beta", "member", "Beta Plastics AG"),
          ("tessa", "Tessa Tech", "technician", None), ("rita", "Rita Review", "reviewer", None),
          ("arno", "Arno Auth", "authorizer", None), ("ada", "Ada Admin", "admin", None)]
for login, name, role, member in PEOPLE:
    PASSWORDS[login] = f"pw-{login}-correct-horse"
    args = ["user", "add", login, "--data", data, "--name", name, "--role", role]
    if member:
        args += ["--member", member, "--email", f"{login}@example.org"]
    r = must(cli(*args, stdin=PASSWORDS[login] + "\n"), f"user add {login}")
    if role in ("reviewer", "authorizer"):
        check("signing key" in r.stderr and "registered" in r.stderr, f"user add {login}: no key said: {r.stderr}")
persons = must(cli("registry", "person", "list", "-o", certs), "person list").stdout
check("Rita Review (rita)" in persons and "Arno Auth (arno)" in persons, f"persons not registered: {persons}")
# A wrong password does not make (or open) a key.
r = cli("user", "key", "arno", "--data", data, stdin="not-arnos-password\n")
check(r.returncode == 2 and "wrong password" in r.stderr, f"user key with a wrong password: {r.returncode} {r.stderr}")
r = cli("user", "key", "tessa", "--data", data, stdin=PASSWORDS["tessa"] + "\n")
check(r.returncode == 2 and "only reviewers and authorizers" in r.stderr, f"a technician's key: {r.stderr}")

# ---- a real run file, sealed by the demo station -----------------------------------------------
runs = os.path.join(data, "runs")
run_name = os.path.basename(make_run(cfg, runs))
run_bytes = open(os.path.join(runs, run_name), "rb").read()

srv = Server(data)
try:
    alice, bruno = Client(srv, "alice", PASSWORDS["alice"]), Client(srv, "bruno", PASSWORDS["bruno"])
    tessa, rita = Client(srv, "tessa", PASSWORDS["tessa"]), Client(srv, "rita", PASSWORDS["rita"])
    arno, ada = Client(srv, "arno", PASSWORDS["arno"]), Client(srv, "ada", PASSWORDS["ada"])
    st, _, me = rita.call("GET", "/api/v1/me")
    check(me["user"]["signing_key_unlocked"] is True, "rita's key is not unlocked by her login")
    st, _, me = tessa.call("GET", "/api/v1/me")
    check(me["user"]["signing_key_unlocked"] is False, "a technician has an unlocked key")

    req = new_request(alice)
    other_req = new_request(bruno, "PA6 GF30")
    check(rita.call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200, "accept")
    st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/items",
                             {"count": 2, "description": "ISO 3167 1A bar", "condition": "as expected",
                              "conforming": True, "storage": "shelf 3"})
    check(st == 201, f"receive items: {st} {body}")
    items = [i["item_id"] for i in body["items"]]

    # ---- uploads: refused ones keep nothing ---------------------------------------------------------
    before = sorted(os.listdir(runs))
    damaged = bytearray(run_bytes)
    damaged[len(damaged) // 4: 3 * len(damaged) // 4] = b"\xa5" * (3 * len(damaged) // 4 - len(damaged) // 4)
    for label, blob in (("not HDF5", b"specimen,force\n1,2\n" * 50), ("damaged", bytes(damaged)),
                        ("truncated", run_bytes[:len(run_bytes) // 2])):
        st, _, body = tessa.call("PUT", "/api/v1/runs/bad.h5", raw=blob, content_type="application/x-hdf5")
        check(st == 422 and body["error"]["code"] == "not_a_run_file" and "bad.h5" in body["error"]["message"]
              and data not in body["error"]["message"] and ".upload-" not in body["error"]["message"],
              f"upload of a {label} file (the answer names the upload, not the server's files): {st} {body}")
    check(sorted(os.listdir(runs)) == before, f"a refused upload left files: {sorted(os.listdir(runs))}")
    st, _, body = tessa.call("PUT", "/api/v1/runs/x.h5", raw=run_bytes, content_type="application/json")
    check(st == 415, f"upload as JSON: {st}")
    st, _, body = tessa.call("PUT", "/api/v1/runs/x.h5", raw=run_bytes, content_type="application/x-hdf5", csrf=False)
    check(st == 403 and body["error"]["code"] == "csrf", f"upload without CSRF: {st}")
    check(alice.call("PUT", "/api/v1/runs/x.h5", raw=run_bytes, content_type="application/x-hdf5")[0] == 403,
          "a member uploads a run")
    for bad in ("..%2f..%2fserver.sqlite", "%2e%2e", "x.h5%00.txt"):
        st, _, _ = tessa.call("PUT", f"/api/v1/runs/{bad}", raw=run_bytes, content_type="application/x-hdf5")
        check(st in (404, 413), f"upload to {bad}: {st}")  # no route: the body gets the 64 KiB limit
    # Over 256 MiB: refused from the Content-Length, before the body is read.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(f"PUT /api/v1/runs/huge.h5 HTTP/1.1\r\nHost: x\r\nCookie: pd_session={tessa.cookie}\r\n"
                     f"X-CSRF-Token: {tessa.csrf}\r\nContent-Type: application/x-hdf5\r\n"
                     f"Content-Length: {300 * 1024 * 1024}\r\n\r\n".encode())
        head = sock.recv(4096).decode("latin-1")
    check(head.startswith("HTTP/1.1 413"), f"an upload over the limit: {head[:60]!r}")
    check(not os.path.exists(os.path.join(runs, "huge.h5")), "the oversized upload left a file")
    st, _, up = tessa.call("PUT", "/api/v1/runs/upload-1.h5", raw=run_bytes, content_type="application/x-hdf5")
    check(st == 201 and up["how"] == "uploaded" and up["specimens"] == 5 and up["size"] == len(run_bytes),
          f"upload: {st} {up}")
    st, _, _ = tessa.call("PUT", "/api/v1/runs/upload-1.h5", raw=run_bytes, content_type="application/x-hdf5")
    check(st == 409, f"upload over an existing run: {st}")

    # ---- an existing file by name; traversal refused ------------------------------------------------
    for bad in ("../server.sqlite", "/etc/passwd", "..h5", "runs/../../x.h5", ".hidden.h5"):
        st, _, _ = tessa.call("POST", "/api/v1/runs", {"name": bad})
        check(st == 400, f"register {bad!r}: {st}")
    check(tessa.call("POST", "/api/v1/runs", {"name": "none.h5"})[0] == 404, "register a missing file")
    st, _, run = tessa.call("POST", "/api/v1/runs", {"name": run_name})
    check(st == 201 and run["how"] == "linked" and run["request_id"] is None, f"register: {st} {run}")

    # ---- linking ---------------------------------------------------------------------------------
    check(tessa.call("POST", f"/api/v1/requests/{other_req}/runs", {"run": run["id"]})[0] == 409,
          "a run linked to a request without items")
    st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/runs", {"run": run["id"], "items": ["IT-1999-000001"]})
    check(st == 400, f"link to a foreign item id: {st}")
    st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/runs", {"run": run["id"], "items": items})
    check(st == 200 and len(body["runs"]) == 1 and body["runs"][0]["items"] == items, f"link: {st} {body}")
    check(alice.call("GET", f"/api/v1/requests/{req}")[2]["state"] == "testing", "request not testing after link")
    check(alice.call("POST", f"/api/v1/requests/{req}/runs", {"run": run["id"]})[0] == 403, "a member links")
    # A run's data are one member's: the same run is not linked to member B's request too.
    check(rita.call("POST", f"/api/v1/requests/{other_req}/accept", REVIEW)[0] == 200, "accept B's request")
    check(tessa.call("POST", f"/api/v1/requests/{other_req}/items", {"description": "plaques", "condition": "ok",
                                                                     "conforming": True, "storage": "s"})[0] == 201,
          "B's items")
    st, _, body = tessa.call("POST", f"/api/v1/requests/{other_req}/runs", {"run": run["id"]})
    check(st == 409 and "another request" in body["error"]["message"], f"a run linked to two members: {st} {body}")
    check(bruno.call("GET", "/api/v1/runs")[2]["runs"] == [], "member B sees the run after the refused link")

    # ---- who sees the run -------------------------------------------------------------------------
    st, _, body = alice.call("GET", "/api/v1/runs")
    check(st == 200 and [r["id"] for r in body["runs"]] == [run["id"]], f"alice's runs: {body}")
    st, _, blob = alice.call("GET", f"/api/v1/runs/{run['id']}/file")
    check(st == 200 and blob == run_bytes, "alice's raw download is not the run file")
    st, _, body = bruno.call("GET", "/api/v1/runs")
    check(st == 200 and body["runs"] == [], f"bruno sees runs: {body}")
    for path in (f"/api/v1/runs/{run['id']}", f"/api/v1/runs/{run['id']}/file", f"/api/v1/runs/{up['id']}",
                 f"/api/v1/requests/{req}/runs", f"/api/v1/requests/{req}/certificates"):
        st, _, body = bruno.call("GET", path)
        check(st == 404, f"bruno GET {path}: {st}")
    check(alice.call("GET", f"/api/v1/runs/{up['id']}")[0] == 404, "alice sees an unlinked run")
    st, _, body = tessa.call("GET", "/api/v1/runs")
    check(len(body["runs"]) == 2, f"staff see every run: {body}")

    # ---- certify -------------------------------------------------------------------------------------
    st, _, specs = tessa.call("GET", "/api/v1/specifications")
    check(specs == {"specifications": ["pp-demo.yaml"]}, f"specifications: {specs}")
    check(alice.call("GET", "/api/v1/specifications")[0] == 403, "a member lists specifications")
    for bad in ("../../etc/passwd", "pp-demo.yml", "PP-DEMO.yaml", "none.yaml"):
        st, _, _ = tessa.call("POST", f"/api/v1/requests/{req}/certify", {"specification": bad})
        check(st == 400, f"certify with spec {bad!r}: {st}")
    check(tessa.call("POST", f"/api/v1/requests/{other_req}/certify", {"specification": "pp-demo.yaml"})[0] == 409,
          "certify a request without runs")
    st, _, cert = tessa.call("POST", f"/api/v1/requests/{req}/certify", {"specification": "pp-demo.yaml"})
    check(st == 201 and cert["status"] == "draft" and cert["request_id"] == req, f"certify: {st} {cert}")
    n = cert["number"]
    check(alice.call("GET", f"/api/v1/requests/{req}")[2]["state"] == "reviewing", "request not reviewing")
    # A draft is the lab's: the member does not see it yet.
    check(alice.call("GET", "/api/v1/certificates")[2]["certificates"] == [], "alice sees a draft")
    check(alice.call("GET", f"/api/v1/certificates/{n}/pdf")[0] == 404, "alice downloads a draft")

    # ---- review and authorize: roles, CSRF, order, four eyes --------------------------------------------
    check(rita.call("POST", f"/api/v1/certificates/{n}/authorize")[0] == 403, "a reviewer authorizes")
    check(arno.call("POST", f"/api/v1/certificates/{n}/review")[0] == 403, "an authorizer reviews")
    check(tessa.call("POST", f"/api/v1/certificates/{n}/review")[0] == 403, "a technician reviews")
    check(ada.call("POST", f"/api/v1/certificates/{n}/authorize")[0] == 403, "an admin authorizes")
    st, _, body = arno.call("POST", f"/api/v1/certificates/{n}/authorize")
    check(st == 409, f"authorize before review: {st} {body}")
    st, _, body = rita.call("POST", f"/api/v1/certificates/{n}/review", headers={"X-CSRF-Token": "0" * 64})
    check(st == 403 and body["error"]["code"] == "csrf", f"review with a forged CSRF token: {st}")
    check(tessa.call("GET", f"/api/v1/certificates/{n}")[2]["status"] == "draft", "a refused review changed it")
    st, _, body = rita.call("POST", f"/api/v1/certificates/{n}/review")
    check(st == 200 and body["status"] == "reviewed" and body["reviewed_by"] == "rita", f"review: {st} {body}")
    check(rita.call("POST", f"/api/v1/certificates/{n}/review")[0] == 409, "a second review")
    # The lab's issuing key off the server: authorizing is refused, nothing changes.
    os.rename(os.path.join(certs, "lab.key"), os.path.join(work, "lab.key"))
    st, _, body = arno.call("POST", f"/api/v1/certificates/{n}/authorize")
    check(st == 409 and "issuing key is not on this server" in body["error"]["message"], f"no lab key: {st} {body}")
    check(tessa.call("GET", f"/api/v1/certificates/{n}")[2]["status"] == "reviewed", "refused, yet changed")
    os.rename(os.path.join(work, "lab.key"), os.path.join(certs, "lab.key"))
    st, _, body = arno.call("POST", f"/api/v1/certificates/{n}/authorize")
    check(st == 200 and body["status"] == "issued" and body["authorized_by"] == "arno", f"authorize: {st} {body}")
    check(alice.call("GET", f"/api/v1/requests/{req}")[2]["state"] == "issued", "request not issued")

    # ---- the member's downloads; the other member's 404s ---------------------------------------------
    st, _, body = alice.call("GET", "/api/v1/certificates")
    check([c["number"] for c in body["certificates"]] == [n], f"alice's certificates: {body}")
    st, _, pdf = alice.call("GET", f"/api/v1/certificates/{n}/pdf")
    check(st == 200 and pdf.startswith(b"%PDF-"), f"alice's PDF: {st}")
    st, _, doc = alice.call("GET", f"/api/v1/certificates/{n}/json")
    check(st == 200 and doc.get("status") == "issued" and f"CERT-{n:06d}" in json.dumps(doc),
          f"alice's JSON: {st} {sorted(doc)}")
    for path in ("/pdf", "/json", ""):
        check(bruno.call("GET", f"/api/v1/certificates/{n}{path}")[0] == 404, f"bruno GET certificate{path}")
    check(bruno.call("GET", "/api/v1/certificates")[2]["certificates"] == [], "bruno lists alice's certificate")
    # Independent: the registry's own check, and polydaq verify of the exported files.
    r = cli("registry", "check", certs)
    check(r.returncode == 0, f"registry check: {r.stdout} {r.stderr}")
    with open(os.path.join(work, "dl.pdf"), "wb") as f:
        f.write(pdf)
    r = subprocess.run(["pdftotext", os.path.join(work, "dl.pdf"), "-"], capture_output=True, text=True)
    check(f"CERT-{n:06d}" in r.stdout, "the PDF does not name its number")
    audit = sqlite3.connect(os.path.join(certs, "registry.sqlite"))
    actors = [a for (a,) in audit.execute("SELECT json_extract(entry, '$.actor') FROM audit WHERE certificate_id = ? "
                                          "ORDER BY seq", (f"CERT-{n:06d}",))]
    audit.close()
    check("Rita Review (rita)" in actors and "Arno Auth (arno)" in actors,
          f"the audit log does not name the two people who logged in: {actors}")

    # ---- notices queued for alice's company only ------------------------------------------------------
    out = sqlite3.connect(os.path.join(data, "server.sqlite"))
    rows = out.execute("SELECT recipient, subject FROM outbox ORDER BY id").fetchall()
    out.close()
    subjects = [s for r, s in rows if r == "alice@example.org"]
    for want in ("testing", "certificate drafted", "certificate issued"):
        check(any(want in s for s in subjects), f"no '{want}' notice for alice: {subjects}")
    check(all(r in ("alice@example.org", "bruno@example.org") for r, _ in rows), f"notices to staff: {rows}")
    check(not any("certificate" in s for r, s in rows if r == "bruno@example.org"), "bruno heard of alice's certificate")

    # ---- a password reset: no recovery, a new key; the old stays valid for what it signed ------------------
    st, _, users = ada.call("GET", "/api/v1/users")
    rita_id = [u["id"] for u in users["users"] if u["login"] == "rita"][0]
    PASSWORDS["rita"] = "a-new-password-for-rita"
    check(ada.call("POST", f"/api/v1/users/{rita_id}/password", {"password": PASSWORDS["rita"]})[0] == 200, "reset")
    persons = must(cli("registry", "person", "list", "-o", certs), "person list").stdout.splitlines()
    ritas = [p for p in persons if "(rita)" in p]
    check(len(ritas) == 2 and sum("disabled" in p for p in ritas) == 1, f"rita's keys after the reset: {ritas}")
    check(rita.call("GET", "/api/v1/me")[0] == 401, "rita's old session survived the reset")
    rita = Client(srv, "rita", PASSWORDS["rita"])
    check(rita.call("GET", "/api/v1/me")[2]["user"]["signing_key_unlocked"], "rita's new key did not unlock")

    # ---- revision and withdrawal with reasons ---------------------------------------------------------------
    check(rita.call("POST", f"/api/v1/certificates/{n}/revise", {"reason": ""})[0] == 400, "revise without reason")
    st, _, rev = rita.call("POST", f"/api/v1/certificates/{n}/revise", {"reason": "customer name corrected"})
    check(st == 201 and rev["replaces"] == f"CERT-{n:06d}" and rev["status"] == "draft", f"revise: {st} {rev}")
    m = rev["number"]
    check(rita.call("POST", f"/api/v1/certificates/{m}/review")[0] == 200, "review of the revision (new key)")
    check(arno.call("POST", f"/api/v1/certificates/{m}/authorize")[2]["status"] == "issued", "authorize the revision")
    check(alice.call("GET", f"/api/v1/certificates/{n}")[2]["status"] == "superseded", "the original not superseded")
    check(cli("registry", "check", certs).returncode == 0, "registry check after the reset and revision")
    check(arno.call("POST", f"/api/v1/certificates/{m}/withdraw", {"reason": "x" * 401})[0] == 400, "a long reason")
    st, _, body = arno.call("POST", f"/api/v1/certificates/{m}/withdraw", {"reason": "specimen mix-up found"})
    check(st == 200 and body["status"] == "withdrawn" and body["reason"] == "specimen mix-up found",
          f"withdraw: {st} {body}")
    check(arno.call("POST", f"/api/v1/certificates/{m}/withdraw", {"reason": "again"})[0] == 409, "withdraw twice")

    # ---- logout forgets the key ------------------------------------------------------------------------------
    check(arno.call("DELETE", "/api/v1/session")[0] == 200, "logout")
finally:
    rc = srv.stop()
    check(rc == 0, f"polydaq serve exit {rc}")

# ---- no secret key in server.sqlite -------------------------------------------------------------------------
db = os.path.join(data, "server.sqlite")
c = sqlite3.connect(db)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
sealed = c.execute("SELECT user_id, length(sealed), retired_at FROM signing_keys ORDER BY id").fetchall()
c.close()
check(len(sealed) == 3 and [s[1] for s in sealed if s[2] is None] == [48, 48] and
      all(s[1] is None for s in sealed if s[2] is not None), f"sealed keys: {sealed}")
publics = set()
reg = sqlite3.connect(os.path.join(certs, "registry.sqlite"))
for (hexkey,) in reg.execute("SELECT public_key FROM keys WHERE role IN ('reviewer','authorizer')"):
    publics.add(bytes.fromhex(hexkey))
reg.close()
check(len(publics) == 3, f"registered person keys: {len(publics)}")
blob = open(db, "rb").read()
found = 0
for i in range(len(blob) - 31):
    seed = blob[i:i + 32]
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if pub in publics:
        found += 1
check(found == 0, f"server.sqlite holds {found} secret signing key(s) in the clear")
print(f"server.sqlite: {len(blob)} bytes scanned, no seed of the {len(publics)} person keys", file=sys.stderr)
shutil.rmtree(work, ignore_errors=True)
finish()
