"""server_access.py — the access matrix of docs/SERVER.md walked over real HTTP: every endpoint ×
every role × own and other member's objects, each cell's status as documented, every answer
checked against docs/openapi.yaml; then the scoping of lists, and that every documented
operation appears in the matrix."""
import itertools
import os
import re
import shutil
import sqlite3

from public_lab import make_certs
from server_lib import (ACCOUNTS, API, PASSWORDS, REVIEW, ROLES, Client, Server, check, fail, finish,
                        make_lab, make_run, new_request)


def read_matrix():
    text = open(os.path.join(os.environ.get("PD_SOURCE_DIR", "."), "docs", "SERVER.md")).read()
    block = text.split("<!-- access-matrix -->")[1].split("<!-- /access-matrix -->")[0]
    rows = []
    for line in block.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "endpoint" or set(cells[0]) <= set("-"):
            if cells[0] == "endpoint":
                check(cells[1:] == ROLES, f"matrix columns {cells[1:]} are not {ROLES}")
            continue
        m = re.fullmatch(r"`(GET|POST|PUT|DELETE) (\S+)`", cells[0])
        assert m, f"bad matrix row {line}"
        rows.append((m.group(1), m.group(2), [int(c) for c in cells[1:]]))
    return rows


data, member_a, member_b = make_lab(certs=True)  # the registry first: reviewer and authorizer get keys
RUN_BYTES = open(make_run(data + "-station", data + "-made"), "rb").read()
public = make_certs(data)  # CERT-000001 issued, CERT-000002 a draft (by the CLI), for the public rows
ISSUED_JSON = open(os.path.join(public["certs"], "CERT-000001.json"), "rb").read()
os.makedirs(os.path.join(data, "runs"), exist_ok=True)
server = Server(data)
sessions = {"anonymous": Client(server)}
for role, (login, *_rest) in ACCOUNTS.items():
    sessions[role] = Client(server, login, PASSWORDS[login])
admin = sessions["admin"]
shared_a = new_request(sessions["member A"], "shared request of A")
shared_b = new_request(sessions["member B"], "shared request of B")
ITEM = {"description": "tensile bars", "condition": "sealed, undamaged", "conforming": True, "storage": "shelf 1"}
shared_item, shared_complaint = {}, {}
for role, req in (("member A", shared_a), ("member B", shared_b)):
    assert sessions["reviewer"].call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200
    st, _, body = sessions["technician"].call("POST", f"/api/v1/requests/{req}/items", ITEM)
    assert st == 201, (st, body)
    shared_item[role] = body["items"][0]["id"]
    st, _, body = sessions[role].call("POST", "/api/v1/complaints", {"request_id": req, "subject": "shared",
                                                                     "description": "a shared complaint"})
    assert st == 201, (st, body)
    shared_complaint[role] = body["id"]
counter = itertools.count(1)
tech, rev, auth = sessions["technician"], sessions["reviewer"], sessions["authorizer"]


def fresh_run():
    """A run file recorded from the data folder's runs/ (a copy of the one made above)."""
    name = f"run-copy-{next(counter)}.h5"
    with open(os.path.join(data, "runs", name), "wb") as f:
        f.write(RUN_BYTES)
    st, _, body = tech.call("POST", "/api/v1/runs", {"name": name})
    assert st == 201, (st, body)
    return body["id"], name


def request_in(state, member="member A"):
    """A request of `member` brought to `state`: items received, testing (a run linked)."""
    req = new_request(sessions[member])
    assert rev.call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200
    assert tech.call("POST", f"/api/v1/requests/{req}/items", ITEM)[0] == 201
    run = None
    if state == "testing":
        run, _ = fresh_run()
        assert tech.call("POST", f"/api/v1/requests/{req}/runs", {"run": run})[0] == 200
    return req, run


def cert_in(status, member="member A"):
    """A certificate of `member`'s request in `status` (draft, reviewed, issued); returns (number, run)."""
    req, run = request_in("testing", member)
    st, _, body = tech.call("POST", f"/api/v1/requests/{req}/certify", {"specification": "pp-demo.yaml"})
    assert st == 201, (st, body)
    n = body["number"]
    if status in ("reviewed", "issued"):
        assert rev.call("POST", f"/api/v1/certificates/{n}/review")[0] == 200
    if status == "issued":
        assert auth.call("POST", f"/api/v1/certificates/{n}/authorize")[0] == 200
    return n, run, req


def ended_series(req):
    """A series of request `req` that ended before this server started (the server has no --lab):
    its row written straight into server.sqlite, as a station run's end leaves it, with a run file
    for its curves. Its events replay that file and end; a command to it is 409."""
    path = os.path.join(data, "runs", fresh_run_file())
    db = sqlite3.connect(os.path.join(data, "server.sqlite"), timeout=30)
    with db:
        tech_id = db.execute("SELECT id FROM users WHERE login = 'tessa'").fetchone()[0]
        cur = db.execute("INSERT INTO series(request_id, instrument, method, specimens, started_by, started_at, "
                         "state, outcome, run_id, file, socket, log) VALUES (?, 'frame1', 'iso527', 5, ?, "
                         "'2026-12-01T10:00:00Z', 'finished', 'completed', 'R-ACCESS', ?, '', '')",
                         (req, tech_id, path))
        sid = cur.lastrowid
    db.close()
    return sid


shared_cert, shared_run, shared_cert_req = {}, {}, {}
for role in ("member A", "member B"):
    shared_cert[role], shared_run[role], shared_cert_req[role] = cert_in("issued", role)


def fresh_complaint(acknowledged):
    st, _, body = sessions["member A"].call("POST", "/api/v1/complaints", {
        "request_id": shared_a, "subject": "fresh", "description": "a fresh complaint"})
    assert st == 201, (st, body)
    if acknowledged:
        assert admin.call("POST", f"/api/v1/complaints/{body['id']}/acknowledge", {})[0] == 200
    return body["id"]


def fresh_member_a_user():
    n = next(counter)
    st, _, body = admin.call("POST", "/api/v1/users", {"login": f"contact{n}", "name": f"Contact {n}",
                                                       "role": "member", "member_id": member_a,
                                                       "password": "a-long-enough-password"})
    assert st == 201, (st, body)
    return body["id"]


def cell(method, pattern, role, want):
    """Sends the cell's request; returns the status. A state change that the role is refused
    (401, 403) needs no fresh object."""
    client = sessions[role]
    body = None
    fresh = method in ("POST", "PUT") and want not in (401, 403)
    if pattern == "/api/v1/session":
        if method == "POST":
            login = ACCOUNTS[role][0] if role != "anonymous" else "alice"
            pw = PASSWORDS[login] if role != "anonymous" else "not-the-password"
            return Client(server).login(login, pw)[0]
        if role != "anonymous":  # logout: a session of its own, so the role's session stays
            login = ACCOUNTS[role][0]
            client = Client(server, login, PASSWORDS[login])
    obj = {"{missing}": "999999"}
    raw = None
    if "/public/" in pattern:  # the same for everyone: no login needed, a session changes nothing
        path = pattern.replace("{issued}", "CERT-000001").replace("{draft}", "CERT-000002")
        path = path.replace("{missing}", "CERT-999999")
        if method == "POST":
            return client.call(method, path, raw=ISSUED_JSON)[0]
        return client.call(method, path)[0]
    elif pattern.startswith("/api/v1/certificates/{"):
        obj["{A}"], obj["{B}"] = str(shared_cert["member A"]), str(shared_cert["member B"])
        if fresh:
            status = {"review": "draft", "authorize": "reviewed"}.get(pattern.rsplit("/", 1)[1], "issued")
            obj["{A}"] = str(cert_in(status)[0])
    elif pattern.startswith("/api/v1/runs/{"):
        obj["{A}"], obj["{B}"] = str(shared_run["member A"]), str(shared_run["member B"])
        obj["{file}"] = f"upload-{next(counter)}.h5"
        raw = RUN_BYTES
    elif pattern.endswith("/runs") and "/requests/{" in pattern:
        obj["{A}"], obj["{B}"] = str(shared_cert_req["member A"]), str(shared_cert_req["member B"])
        if fresh:
            obj["{A}"] = str(request_in("items received")[0])
    elif pattern.endswith("/certify") or pattern.endswith("/certificates") and "/requests/{" in pattern:
        obj["{A}"], obj["{B}"] = str(shared_cert_req["member A"]), str(shared_cert_req["member B"])
        if fresh:
            obj["{A}"] = str(request_in("testing")[0])
    elif "/requests/{" in pattern:
        state_changing = method == "POST"
        obj["{A}"] = str(new_request(sessions["member A"]) if state_changing else shared_a)
        obj["{B}"] = str(shared_b)
        if state_changing and pattern.endswith("/items"):  # items arrive for an accepted request
            assert sessions["reviewer"].call("POST", f"/api/v1/requests/{obj['{A}']}/accept", REVIEW)[0] == 200
    elif "/items/{" in pattern:
        obj["{A}"], obj["{B}"] = str(shared_item["member A"]), str(shared_item["member B"])
    elif "/complaints/{" in pattern:
        if method == "POST":  # a fresh complaint, at the state its step follows
            obj["{A}"] = str(fresh_complaint(acknowledged=not pattern.endswith("/acknowledge")))
        else:
            obj["{A}"] = str(shared_complaint["member A"])
        obj["{B}"] = str(shared_complaint["member B"])
    elif pattern.startswith("/api/v1/series/{"):
        obj["{A}"] = str(shared_series)
    elif "/members/" in pattern:
        obj["{A}"], obj["{B}"] = str(member_a), str(member_b)
    elif "/users/{A}" in pattern:
        obj["{A}"] = str(fresh_member_a_user())
    path = pattern
    for k, v in obj.items():
        path = path.replace(k, v)
    n = next(counter)
    if method == "POST":
        if pattern == "/api/v1/members":
            body = {"name": f"New Member {n}"}
        elif pattern == "/api/v1/users":
            body = {"login": f"new{n}", "name": f"New {n}", "role": "technician", "password": "a-long-enough-password"}
        elif pattern.endswith("/password"):
            body = {"password": "another-long-password"}
        elif pattern == "/api/v1/requests":
            body = {"material": f"PA6 GF30 lot {n}", "specification": "customer drawing 4711", "specimens": 10,
                    "due_date": "2099-01-31", "decision_rule_agreed": True}
        elif pattern.endswith("/accept"):
            body = REVIEW
        elif pattern.endswith("/reject"):
            body = {"reason": "the lab is not accredited for this method"}
        elif pattern.endswith("/items"):
            body = ITEM
        elif pattern == "/api/v1/complaints":  # always about A's request: member B's is 404
            body = {"request_id": shared_a, "subject": f"complaint {n}", "description": "the result looks wrong"}
        elif pattern.endswith("/acknowledge"):
            body = {"note": "looking into it"}
        elif pattern.endswith("/investigation"):
            body = {"findings": "specimen 2 slipped"}
        elif pattern.endswith("/close"):
            body = {"outcome": "explained to the member"}
        elif pattern == "/api/v1/runs":
            body = {"name": fresh_run_file()}
        elif pattern.endswith("/runs"):
            body = {"run": fresh_run()[0] if fresh else shared_run["member A"]}
        elif pattern.endswith("/certify"):
            body = {"specification": "pp-demo.yaml"}
        elif pattern.endswith("/revise") or pattern.endswith("/withdraw"):
            body = {"reason": "a reason given in the access matrix"}
        elif pattern.endswith("/dims"):  # a valid command to an ended series: the technician's is 409
            body = {"specimen": 1, "values": {"width": 10.0, "thickness": 4.0}}
        elif pattern.endswith("/caliper"):
            body = {"specimen": 1, "field": "width"}
        elif pattern.endswith("/invalid"):
            body = {"specimen": 1, "reason": "broke in the grips"}
        elif pattern.endswith("/note"):
            body = {"specimen": 1, "text": "a note"}
        elif pattern == "/api/v1/series":  # this server has no --lab: a technician's start is 409
            body = {"request_id": shared_a, "item_ids": ["IT-2026-000001"], "method": "iso527", "instrument": "frame1"}
    if method == "PUT":
        return client.call(method, path, raw=raw, content_type="application/x-hdf5")[0]
    return client.call(method, path, body)[0]


def fresh_run_file():
    name = f"run-file-{next(counter)}.h5"
    with open(os.path.join(data, "runs", name), "wb") as f:
        f.write(RUN_BYTES)
    return name


shared_series = ended_series(shared_a)
rows = read_matrix()
cells = 0
for method, pattern, expected in rows:
    for role, want in zip(ROLES, expected):
        got = cell(method, pattern, role, want)
        cells += 1
        check(got == want, f"{method} {pattern} as {role}: {got}, the matrix says {want}")

# Every operation of openapi.yaml is in the matrix (and nothing else is).
documented = set(API.operations())
in_matrix = {(m, re.sub(r"\{(issued|draft|missing)\}", "{number}", p) if "/public/" in p
              else re.sub(r"\{(A|B|missing)\}", "{id}", p)) for m, p, _ in rows}
check(documented == in_matrix, f"openapi operations {sorted(documented - in_matrix)} missing from the matrix, "
                               f"{sorted(in_matrix - documented)} not documented")

# Lists are scoped: a member sees its own company's requests and record only; staff see all.
for role, own, other in (("member A", member_a, member_b), ("member B", member_b, member_a)):
    st, _, body = sessions[role].call("GET", "/api/v1/requests")
    check(st == 200 and body["requests"] and all(r["member_id"] == own for r in body["requests"]),
          f"{role} request list shows another member's requests")
    st, _, body = sessions[role].call("GET", "/api/v1/members")
    check(st == 200 and [m["id"] for m in body["members"]] == [own], f"{role} member list: {body}")
    check(other not in [m["id"] for m in body["members"]], f"{role} sees member {other}")
    st, _, body = sessions[role].call("GET", "/api/v1/complaints")
    check(st == 200 and body["complaints"] and all(c["member_id"] == own for c in body["complaints"]),
          f"{role} complaint list shows another member's complaints")
for role in ("technician", "reviewer", "authorizer", "admin"):
    st, _, body = sessions[role].call("GET", "/api/v1/complaints")
    check({member_a, member_b} <= {c["member_id"] for c in body["complaints"]}, f"{role} does not see all complaints")
    st, _, body = sessions[role].call("GET", "/api/v1/requests")
    check({member_a, member_b} <= {r["member_id"] for r in body["requests"]}, f"{role} does not see all requests")

# A member's request always belongs to its own company, whatever the body says.
st, _, body = sessions["member B"].call("POST", "/api/v1/requests", {
    "material": "x", "methods": ["ISO 178"], "specimens": 1, "due_date": "2099-01-01",
    "decision_rule_agreed": True, "member_id": member_a})
check(st == 400, f"a member_id in a request body must be refused as unknown: {st}")

rc = server.stop()
check(rc == 0, f"serve exit status {rc} after SIGTERM")
print(f"{cells} access-matrix cells checked")
shutil.rmtree(data)
shutil.rmtree(public["keys"])
finish()
