"""server_consistency.py — the lab server's certificates stay one and the same thing in its
database and in the registry, over real HTTP.

1. Two certify calls for the same request and specification fired at the same moment (two threads
   released by one barrier, many rounds) make exactly one draft — one 201 and one 409 —, in
   server.sqlite and in registry.sqlite alike; a third call after them is 409 too, and so are two
   simultaneous revisions of one issued certificate.
2. The server's copy of a certificate's status follows the registry when the server's own update
   fails after the registry's step succeeded: the failure is injected with a trigger in
   server.sqlite that aborts the certificate's UPDATE (as a full disk or a read-only file would
   fail it); the answer is an error, the registry has the new status, and once the fault is gone
   the next read shows the registry's status; a server started on a copy with a stale status
   sweeps it at its start."""
import os
import shutil
import sqlite3
import threading

from server_lib import (ACCOUNTS, PASSWORDS, REVIEW, Client, Server, check, finish, make_lab, make_run, new_request)

ROUNDS = 12

data, member_a, _ = make_lab(certs=True)
certs = os.path.join(data, "certs")
specs = os.path.join(data, "specs")
# One specification per round: each round drafts anew from the same runs.
for k in range(ROUNDS):
    shutil.copy(os.path.join(specs, "pp-demo.yaml"), os.path.join(specs, f"pp-demo-{k}.yaml"))
runs = os.path.join(data, "runs")
run_name = os.path.basename(make_run(data + "-station", runs))


def registry_rows(sql, *args):
    db = sqlite3.connect(os.path.join(certs, "registry.sqlite"))
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def server_rows(folder, sql, *args):
    db = sqlite3.connect(os.path.join(folder, "server.sqlite"), timeout=30)
    try:
        with db:
            return db.execute(sql, args).fetchall()
    finally:
        db.close()


def at_once(calls):
    """Runs the calls (functions of no argument) in threads released together; their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(k):
        barrier.wait()
        results[k] = calls[k]()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


srv = Server(data)
try:
    s = {role: Client(srv, login, PASSWORDS[login]) for role, (login, *_rest) in ACCOUNTS.items()}
    alice, tessa, rita, arno = s["member A"], s["technician"], s["reviewer"], s["authorizer"]
    # A second technician session: each thread its own connection and cookie.
    tessa2 = Client(srv, "tessa", PASSWORDS["tessa"])
    server_rows(data, "UPDATE users SET email = 'alice@example.org' WHERE login = 'alice'")  # her notices
    req = new_request(alice)
    check(rita.call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200, "accept")
    st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/items", {
        "count": 2, "description": "ISO 3167 1A bar", "condition": "as expected", "conforming": True,
        "storage": "shelf 3"})
    check(st == 201, f"items: {st} {body}")
    st, _, run = tessa.call("POST", "/api/v1/runs", {"name": run_name})
    check(st == 201, f"register the run: {st} {run}")
    check(tessa.call("POST", f"/api/v1/requests/{req}/runs", {"run": run["id"]})[0] == 200, "link the run")

    # ---- 1. simultaneous certify: one draft --------------------------------------------------------
    for k in range(ROUNDS):
        spec = f"pp-demo-{k}.yaml"
        before = registry_rows("SELECT count(*) FROM certificates")[0][0]
        answers = at_once([lambda c=c: c.call("POST", f"/api/v1/requests/{req}/certify", {"specification": spec})
                           for c in (tessa, tessa2)])
        statuses = sorted(a[0] for a in answers)
        check(statuses == [201, 409], f"round {k}: two simultaneous certify calls answered {statuses}")
        for st, _, body in answers:
            if st == 409:
                check(body["error"]["code"] == "conflict", f"round {k}: the 409 is {body}")
        drafts = server_rows(data, "SELECT number FROM certificates WHERE request_id = ? AND specification = ?",
                             req, spec)
        check(len(drafts) == 1, f"round {k}: {len(drafts)} drafts in server.sqlite")
        after = registry_rows("SELECT count(*) FROM certificates")[0][0]
        check(after == before + 1, f"round {k}: the registry holds {after - before} new certificates")
    # Afterwards, too: the open draft is reviewed, not drafted again.
    st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/certify", {"specification": "pp-demo-0.yaml"})
    check(st == 409 and "still open" in body["error"]["message"], f"certify over an open draft: {st} {body}")

    # ---- 2. the status mirror: a failure after the registry's step --------------------------------
    first = server_rows(data, "SELECT number FROM certificates WHERE specification = 'pp-demo-0.yaml'")[0][0]
    check(rita.call("POST", f"/api/v1/certificates/{first}/review")[0] == 200, "review")
    fault = ("CREATE TRIGGER fault BEFORE UPDATE OF status ON certificates "
             "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    server_rows(data, fault)
    st, _, body = arno.call("POST", f"/api/v1/certificates/{first}/authorize")
    check(st >= 500, f"authorize with the server's update failing: {st} {body}")
    cert_id = f"CERT-{first:06d}"
    check(registry_rows("SELECT status FROM certificates WHERE certificate_id = ?", cert_id) == [("issued",)],
          "the registry did not issue it")
    check(server_rows(data, "SELECT status FROM certificates WHERE number = ?", first) == [("reviewed",)],
          "the failed update changed server.sqlite")
    server_rows(data, "DROP TRIGGER fault")
    st, _, body = tessa.call("GET", f"/api/v1/certificates/{first}")
    check(st == 200 and body["status"] == "issued", f"the next read after the fault: {st} {body}")
    st, _, body = alice.call("GET", "/api/v1/certificates")
    check(first in [c["number"] for c in body["certificates"]], f"the member's list after the re-sync: {body}")
    check(alice.call("GET", f"/api/v1/requests/{req}")[2]["state"] == "issued", "the request is not issued")
    told = server_rows(data, "SELECT count(*) FROM outbox WHERE recipient = 'alice@example.org' AND subject LIKE ? "
                       "AND body LIKE ?", f"Request {req}: certificate issued%", f"%{cert_id} was issued%")[0][0]
    check(told == 1, f"the member was told of the re-synced issue {told} times")
    # The same for a withdrawal.
    server_rows(data, fault)
    st, _, body = arno.call("POST", f"/api/v1/certificates/{first}/withdraw", {"reason": "a wrong specimen width"})
    check(st >= 500, f"withdraw with the server's update failing: {st} {body}")
    check(registry_rows("SELECT status FROM certificates WHERE certificate_id = ?", cert_id) == [("withdrawn",)],
          "the registry did not withdraw it")
    server_rows(data, "DROP TRIGGER fault")
    st, _, body = alice.call("GET", f"/api/v1/certificates/{first}")
    check(st == 200 and body["status"] == "withdrawn" and body["reason"] == "a wrong specimen width",
          f"the member's read after the fault: {st} {body}")
    told = server_rows(data, "SELECT count(*) FROM outbox WHERE recipient = 'alice@example.org' AND subject LIKE ? "
                       "AND body LIKE ?", f"Request {req}: certificate withdrawn%", "%Reason: a wrong specimen width%")
    check(told[0][0] == 1, f"the member was told of the re-synced withdrawal {told[0][0]} times")

    # ---- simultaneous revisions of one issued certificate: one draft -------------------------------
    third = server_rows(data, "SELECT number FROM certificates WHERE specification = 'pp-demo-2.yaml'")[0][0]
    check(rita.call("POST", f"/api/v1/certificates/{third}/review")[0] == 200, "review the third")
    check(arno.call("POST", f"/api/v1/certificates/{third}/authorize")[0] == 200, "authorize the third")
    before = registry_rows("SELECT count(*) FROM certificates")[0][0]
    answers = at_once([lambda c=c: c.call("POST", f"/api/v1/certificates/{third}/revise", {"reason": "a typo"})
                       for c in (rita, arno)])
    check(sorted(a[0] for a in answers) == [201, 409], f"two simultaneous revisions answered {answers}")
    revisions = server_rows(data, "SELECT count(*) FROM certificates WHERE replaces = ?", third)[0][0]
    check(revisions == 1, f"{revisions} revisions in server.sqlite")
    after = registry_rows("SELECT count(*) FROM certificates")[0][0]
    check(after == before + 1, f"the registry holds {after - before} new certificates after two revisions")
finally:
    rc = srv.stop()
check(rc == 0, f"polydaq serve exited {rc}")

# ---- the start-up sweep: a stale copy is re-synced before the server answers ------------------------
second = server_rows(data, "SELECT number FROM certificates WHERE specification = 'pp-demo-1.yaml'")[0][0]
server_rows(data, "UPDATE certificates SET status = 'issued' WHERE number = ?", second)  # the registry: draft
srv = Server(data)
try:
    tessa = Client(srv, "tessa", PASSWORDS["tessa"])
    check(server_rows(data, "SELECT status FROM certificates WHERE number = ?", second) == [("draft",)],
          "the start did not re-sync the stale status from the registry")
    st, _, body = tessa.call("GET", f"/api/v1/certificates/{second}")
    check(st == 200 and body["status"] == "draft", f"read after the start: {st} {body}")
finally:
    rc = srv.stop()
check(rc == 0, f"polydaq serve exited {rc}")
shutil.rmtree(data)
shutil.rmtree(data + "-station")
finish()
