"""server_security.py — bad input and attacks on every endpoint of the lab server, over real HTTP
against `polydaq serve`: malformed JSON, oversized bodies, wrong content types, unknown fields,
long strings, SQL metacharacters, path traversal in ids, missing/forged CSRF tokens, forged and
expired sessions, disabled users, password resets, login throttling without user enumeration,
the access log's contents and the graceful stop. After the bad input the database (read with the
sqlite3 CLI) holds exactly what the good requests put there."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time

from server_lib import (ACCOUNTS, PASSWORDS, REVIEW, Client, Server, check, finish, make_lab, new_request)

data, member_a, member_b = make_lab()
server = Server(data)
alice = Client(server, "alice", PASSWORDS["alice"])
rita = Client(server, "rita", PASSWORDS["rita"])
ada = Client(server, "ada", PASSWORDS["ada"])
good = new_request(alice)
tessa = Client(server, "tessa", PASSWORDS["tessa"])
accepted = new_request(alice)
assert rita.call("POST", f"/api/v1/requests/{accepted}/accept", REVIEW)[0] == 200
ITEM = {"description": "bars", "condition": "sealed", "conforming": True, "storage": "shelf"}
assert tessa.call("POST", f"/api/v1/requests/{accepted}/items", ITEM)[0] == 201
COMPLAINT = {"request_id": accepted, "subject": "s", "description": "d"}
complaint = alice.call("POST", "/api/v1/complaints", COMPLAINT)[2]["id"]


def db_count(table):
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", os.path.join(data, "server.sqlite"), f"SELECT count(*) FROM {table}"],
                       capture_output=True, text=True)
    return int(r.stdout)


def counts():
    return tuple(db_count(t) for t in ("members", "users", "requests", "request_events", "items", "complaints",
                                       "complaint_events", "outbox"))


before = counts()
VALID = {"material": "PP", "methods": ["ISO 527-2"], "specimens": 5, "due_date": "2099-01-01",
         "decision_rule_agreed": True}


def expect(client, method, path, want, code=None, what="", **kw):
    st, _, body = client.call(method, path, **kw)
    ok = check(st == want, f"{what or method + ' ' + path}: {st}, expected {want}: {body}")
    if ok and code:
        check(body["error"]["code"] == code, f"{what}: error code {body['error']['code']}, expected {code}")
    return body


# --- bodies ------------------------------------------------------------------------------------
endpoints_with_body = [
    (alice, "POST", "/api/v1/requests"), (rita, "POST", f"/api/v1/requests/{good}/accept"),
    (rita, "POST", f"/api/v1/requests/{good}/reject"), (ada, "POST", "/api/v1/members"),
    (ada, "POST", "/api/v1/users"), (ada, "POST", "/api/v1/users/2/password"), (Client(server), "POST", "/api/v1/session"),
    (tessa, "POST", f"/api/v1/requests/{accepted}/items"), (alice, "POST", "/api/v1/complaints"),
    (tessa, "POST", f"/api/v1/complaints/{complaint}/acknowledge"),
    (tessa, "POST", f"/api/v1/complaints/{complaint}/investigation"), (rita, "POST", f"/api/v1/complaints/{complaint}/close"),
]
for client, method, path in endpoints_with_body:
    w = f"{method} {path}"
    b = expect(client, method, path, 400, "invalid", w + " malformed", raw=b'{"material": "PP",')
    check("line 1" in b["error"]["message"], f"{w}: malformed JSON message names no place: {b}")
    expect(client, method, path, 400, "invalid", w + " not an object", raw=b'[1,2]')
    expect(client, method, path, 400, "invalid", w + " empty", raw=b'')
    expect(client, method, path, 400, "invalid", w + " duplicate keys", raw=b'{"a": 1, "a": 2}')
    expect(client, method, path, 400, "invalid", w + " unknown field", body={"surprise": 1})
    expect(client, method, path, 400, "invalid", w + " long multibyte unknown field", body={"x" + "é" * 40: 1})
    expect(client, method, path, 400, "invalid", w + " invalid UTF-8", raw=b'{"name": "\xff\xfe"}')
    expect(client, method, path, 415, "unsupported_media_type", w + " text/plain", raw=b'{}', content_type="text/plain")
    expect(client, method, path, 415, "unsupported_media_type", w + " form", raw=b'a=b',
           content_type="application/x-www-form-urlencoded")
    expect(client, method, path, 415, "unsupported_media_type", w + " no type", raw=b'{}', content_type=None)
    expect(client, method, path, 413, "too_large", w + " 70 KiB", raw=b'{"material": "' + b"x" * 70000 + b'"}')

# Oversized without Content-Length (chunked): refused as it arrives.
s = socket.create_connection(("127.0.0.1", server.port))
chunk = b"x" * 8192
req = (f"POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nCookie: pd_session={alice.cookie}\r\n"
       f"X-CSRF-Token: {alice.csrf}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
s.sendall(req)
try:
    for _ in range(12):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
except OSError:
    pass
answer = s.recv(65536).decode(errors="replace")
s.close()
check(answer.startswith("HTTP/1.1 413"), f"chunked 96 KiB body: {answer[:80]!r}")

# Fields: types, bounds, control characters, dates, the decision rule.
bad_requests = [
    ({**VALID, "material": ""}, "empty material"), ({**VALID, "material": "x" * 201}, "201-byte material"),
    ({**VALID, "material": "a\u0000b"}, "NUL in material"), ({**VALID, "material": "a\nb"}, "newline in material"),
    ({**VALID, "material": "a\u001b[2Jb"}, "escape in material"), ({**VALID, "specimens": 0}, "0 specimens"),
    ({**VALID, "specimens": 1001}, "1001 specimens"), ({**VALID, "specimens": "5"}, "specimens as string"),
    ({**VALID, "specimens": 5.5}, "fractional specimens"), ({**VALID, "due_date": "2099-02-30"}, "Feb 30"),
    ({**VALID, "due_date": "2001-01-01"}, "due date in the past"), ({**VALID, "due_date": "31.12.2099"}, "German date"),
    ({**VALID, "decision_rule_agreed": False}, "decision rule not agreed"),
    ({k: v for k, v in VALID.items() if k != "decision_rule_agreed"}, "decision rule missing"),
    ({**VALID, "decision_rule_agreed": "yes"}, "decision rule as string"),
    ({**VALID, "methods": []}, "no method, no specification"), ({**VALID, "methods": ["x" * 65]}, "65-byte method"),
    ({**VALID, "methods": [1]}, "method not a string"), ({**VALID, "methods": ["m"] * 21}, "21 methods"),
    ({**VALID, "notes": "x" * 4001}, "4001-byte notes"), ({**VALID, "member_id": member_b}, "member_id in body"),
]
for body, what in bad_requests:
    expect(alice, "POST", "/api/v1/requests", 400, "invalid", what, body=body)
bad_reviews = [({"contract_review": {**REVIEW["contract_review"], "capability_and_resources": False}},
                "accept with a failed review point"),
               ({"contract_review": {"requirements_defined": True}}, "accept with review points missing"),
               ({"comments": "ok"}, "accept without review")]
for body, what in bad_reviews:
    expect(rita, "POST", f"/api/v1/requests/{good}/accept", 400, "invalid", what, body=body)
expect(rita, "POST", f"/api/v1/requests/{good}/reject", 400, "invalid", "reject without reason", body={"reason": ""})
expect(ada, "POST", "/api/v1/users", 400, "invalid", "user with a bad role",
       body={"login": "x1", "name": "X", "role": "root", "password": "long-enough-password"})
expect(ada, "POST", "/api/v1/users", 400, "invalid", "login with a quote",
       body={"login": "x'--", "name": "X", "role": "technician", "password": "long-enough-password"})
expect(ada, "POST", "/api/v1/users", 400, "invalid", "member without member_id",
       body={"login": "x2", "name": "X", "role": "member", "password": "long-enough-password"})
expect(ada, "POST", "/api/v1/users", 400, "invalid", "staff with member_id",
       body={"login": "x3", "name": "X", "role": "technician", "member_id": member_a, "password": "long-enough-password"})
expect(ada, "POST", "/api/v1/users", 400, "invalid", "short password",
       body={"login": "x4", "name": "X", "role": "technician", "password": "short"})
expect(ada, "POST", "/api/v1/users", 409, "conflict", "login taken",
       body={"login": "alice", "name": "X", "role": "technician", "password": "long-enough-password"})
expect(ada, "POST", "/api/v1/members", 409, "conflict", "member name taken", body={"name": "Beta Plastics AG"})
expect(ada, "POST", "/api/v1/members", 400, "invalid", "member name with outer space", body={"name": " Gamma"})
expect(alice, "POST", "/api/v1/session", 400, "invalid", "login with extra field",
       body={"login": "alice", "password": "x", "remember": True})
expect(alice, "DELETE", "/api/v1/session", 400, "invalid", "logout with a body", body={"x": 1})
check(counts() == before, f"bad input changed the database: {before} → {counts()}")

# --- SQL metacharacters are data -------------------------------------------------------------------
sneaky = "PP'); DROP TABLE requests; -- \" OR 1=1 /* ü ✓"
st, _, body = alice.call("POST", "/api/v1/requests", {**VALID, "material": sneaky, "notes": "line 1\nline 2\t'"})
check(st == 201 and body["material"] == sneaky, f"SQL metacharacters: {st} {body}")
st, _, body = alice.call("GET", f"/api/v1/requests/{body['id']}")
check(st == 200 and body["material"] == sneaky and body["notes"] == "line 1\nline 2\t'", "round trip of odd text")
expect(Client(server), "POST", "/api/v1/session", 401, "login_failed", "SQL in a login",
       body={"login": "ada' OR '1'='1", "password": "' OR '1'='1"})
before = counts()

# --- ids and paths ----------------------------------------------------------------------------------
for path in ("/api/v1/requests/../users", "/api/v1/requests/%2e%2e/users", "/api/v1/requests/1%00",
             "/api/v1/requests/01", "/api/v1/requests/-1", "/api/v1/requests/0", "/api/v1/requests/1;DROP",
             "/api/v1/requests/1e3", "/api/v1/requests/0x10", "/api/v1/requests/9999999999999999",
             "/api/v1/requests/%31", "/api/v1/requests//1", "/api/v1/requests/1/", "/api/v1/../../etc/passwd",
             "/api/v1/members/" + "1" * 300, "/api/v2/requests", "/api"):  # "/" is the web interface
    st, _, body = ada.call("GET", path)
    check(st == (200 if path == "/api/v1/requests/%31" else 404), f"GET {path}: {st}")
expect(ada, "PUT", "/api/v1/requests", 405, "method_not_allowed", "PUT on a list")
st, hdrs, _ = ada.call("PATCH", f"/api/v1/requests/{good}")
check(st == 405 and hdrs.get("allow") == "GET", f"PATCH: {st}, Allow {hdrs.get('allow')}")
# Another member's request: 404 for reading and for every change, like a missing one.
b_req = new_request(Client(server, "bruno", PASSWORDS["bruno"]))
missing = expect(alice, "GET", "/api/v1/requests/999999", 404, "not_found")
other = expect(alice, "GET", f"/api/v1/requests/{b_req}", 404, "not_found")
check(missing == other, "another member's request must look exactly like a missing one")
before = counts()

# --- CSRF ------------------------------------------------------------------------------------------
changes = [("POST", "/api/v1/requests", VALID), ("POST", f"/api/v1/requests/{good}/accept", REVIEW),
           ("POST", "/api/v1/members", {"name": "Gamma"}), ("DELETE", "/api/v1/session", None),
           ("POST", "/api/v1/users/2/disable", None), ("POST", f"/api/v1/requests/{accepted}/items", ITEM),
           ("POST", "/api/v1/complaints", COMPLAINT), ("POST", f"/api/v1/complaints/{complaint}/acknowledge", {})]
for method, path, body in changes:
    client = alice if path in ("/api/v1/requests", "/api/v1/complaints") else (rita if "accept" in path else ada)
    expect(client, method, path, 403, "csrf", f"{method} {path} without token", body=body, csrf=False)
    expect(client, method, path, 403, "csrf", f"{method} {path} forged token", body=body, csrf=False,
           headers={"X-CSRF-Token": secrets.token_hex(32)})
    expect(client, method, path, 403, "csrf", f"{method} {path} another session's token", body=body, csrf=False,
           headers={"X-CSRF-Token": (alice if client is not alice else rita).csrf})
    expect(client, method, path, 403, "csrf", f"{method} {path} short token", body=body, csrf=False,
           headers={"X-CSRF-Token": client.csrf[:63]})
check(counts() == before, "a refused CSRF check changed the database")

# --- sessions ----------------------------------------------------------------------------------------
forged = Client(server)
# alice's id with its last digit changed (to another digit: one ending in 0 was once "forged" into itself)
altered = alice.cookie[:-1] + ("1" if alice.cookie[-1] == "0" else "0")
for cookie in (secrets.token_hex(32), "0" * 64, "../../x", "x" * 5000, altered, ""):
    forged.cookie = cookie
    st, hdrs, _ = forged.call("GET", "/api/v1/me")
    check(st == 401, f"forged cookie {cookie[:20]!r}: {st}")
# Logout ends the session on the server: the old cookie is refused afterwards.
bye = Client(server, "tessa", PASSWORDS["tessa"])
old = bye.cookie
expect(bye, "DELETE", "/api/v1/session", 200)
bye.cookie = old
expect(bye, "GET", "/api/v1/me", 401, "unauthenticated", "cookie after logout")
# Only hashes of session ids are stored.
dump = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", os.path.join(data, "server.sqlite"), ".dump"], capture_output=True, text=True).stdout
check(alice.cookie not in dump and alice.csrf not in dump, "a session id or CSRF token is stored in clear")
check(PASSWORDS["alice"] not in dump and "$argon2id$" in dump, "passwords not stored as Argon2id hashes")

# Disable and password reset end sessions; the login answer does not tell why it fails.
st, _, carl = ada.call("POST", "/api/v1/users", {"login": "carl", "name": "Carl", "role": "member",
                                                 "member_id": member_a, "password": "carl-first-password"})
c1 = Client(server, "carl", "carl-first-password")
expect(ada, "POST", f"/api/v1/users/{carl['id']}/password", 200, body={"password": "carl-second-password"})
expect(c1, "GET", "/api/v1/me", 401, "unauthenticated", "session after password reset")
wrong = expect(Client(server), "POST", "/api/v1/session", 401, "login_failed", "old password",
               body={"login": "carl", "password": "carl-first-password"})
c2 = Client(server, "carl", "carl-second-password")
expect(ada, "POST", f"/api/v1/users/{carl['id']}/disable", 200)
expect(c2, "GET", "/api/v1/me", 401, "unauthenticated", "session of a disabled user")
disabled = expect(Client(server), "POST", "/api/v1/session", 401, "login_failed", "disabled user",
                  body={"login": "carl", "password": "carl-second-password"})
unknown = expect(Client(server), "POST", "/api/v1/session", 401, "login_failed", "unknown login",
                 body={"login": "nobody", "password": "whatever-password"})
check(wrong == disabled == unknown, f"login failures differ: {wrong} / {disabled} / {unknown}")
me = expect(ada, "GET", "/api/v1/me", 200)
expect(ada, "POST", f"/api/v1/users/{me['user']['id']}/disable", 409, "conflict", "admin disabling themself")
r = subprocess.run([os.environ.get("PD_CLI", "build/polydaq"), "user", "disable", "rita", "--data", data])
check(r.returncode == 0, "polydaq user disable")
expect(rita, "GET", "/api/v1/me", 401, "unauthenticated", "session of a user disabled by the CLI")

# --- login throttling, the same for existing and unknown logins -----------------------------------------
for login in ("arno", "nobody-here"):
    for i in range(5):
        expect(Client(server), "POST", "/api/v1/session", 401, "login_failed", f"{login} failure {i + 1}",
               body={"login": login, "password": "wrong-password-guess"})
    c = Client(server)
    st, hdrs, body = c.call("POST", "/api/v1/session",
                            {"login": login, "password": PASSWORDS.get(login, "wrong-password-guess")})
    check(st == 429 and body["error"]["code"] == "too_many_attempts" and int(hdrs.get("retry-after", "0")) >= 1,
          f"{login}: 6th attempt {st} {hdrs.get('retry-after')}")
    check(c.cookie is None, "a throttled login set a cookie")
# Other logins from the same address still work (the address's own limit is higher).
Client(server, "tessa", PASSWORDS["tessa"])

alice.call("GET", "/api/v1/me?token=query-secret-42")  # a query string is never logged

# --- stop: a request in flight is finished ---------------------------------------------------------------
s = socket.create_connection(("127.0.0.1", server.port))
body = json.dumps(VALID).encode()
head = (f"POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nCookie: pd_session={alice.cookie}\r\n"
        f"X-CSRF-Token: {alice.csrf}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
s.sendall(head + body[:10])
time.sleep(0.5)  # the server has the request's head; now it is told to stop
server.proc.send_signal(signal.SIGTERM)
time.sleep(0.2)
s.sendall(body[10:])
answer = s.recv(65536).decode(errors="replace")
s.close()
check(answer.startswith("HTTP/1.1 201"), f"request in flight at SIGTERM: {answer[:60]!r}")
rc = server.stop()
check(rc == 0, f"serve exit status {rc}")

# --- the access log ----------------------------------------------------------------------------------------
log = open(os.path.join(data, "access.log")).read()
lines = [json.loads(x) for x in log.splitlines()]
check(len(lines) > 100, f"access log has {len(lines)} lines")
for x in lines:
    check(set(x) == {"time", "method", "path", "status", "bytes", "duration_ms", "user", "client", "outcome"},
          f"access log keys {sorted(x)}")
for secret in list(PASSWORDS.values()) + [alice.cookie, alice.csrf, "carl-second-password", "query-secret-42"]:
    check(secret not in log, "a password, session id or CSRF token is in the access log")
check(any(x["status"] == 201 and x["path"] == "/api/v1/requests" and x["user"] for x in lines),
      "the access log names the user of a request")

# --- behind a TLS proxy: Secure cookies, HSTS, the client named by the proxy ---------------------------------
proxied = Server(data, "--tls-proxy")
c = Client(proxied)
st, hdrs, _ = c.call("POST", "/api/v1/session", {"login": "tessa", "password": PASSWORDS["tessa"]},
                     headers={"X-Real-IP": "192.0.2.7"})
check(st == 201 and "; Secure" in hdrs.get("set-cookie", ""), f"--tls-proxy cookie: {hdrs.get('set-cookie')}")
check(hdrs.get("strict-transport-security", "").startswith("max-age="), "--tls-proxy: no HSTS")
c.call("GET", "/api/v1/me", headers={"X-Real-IP": "not-an-address"})
check(proxied.stop() == 0, "serve exit status")
plog = [json.loads(x) for x in open(os.path.join(data, "access.log"))]
# By path, not by line order: each line is written when its answer is complete, so the login's line
# can follow the next request's (seen under load).
check(sorted((x["path"], x["client"]) for x in plog) == [("/api/v1/me", "127.0.0.1"), ("/api/v1/session", "192.0.2.7")],
      f"clients behind the proxy: {plog}")

# --- expiry: idle and absolute -------------------------------------------------------------------------------
for opts, what in ((("--session-idle", "1"), "idle"), (("--session-idle", "3600", "--session-max", "1"), "absolute")):
    short = Server(data, *opts)
    c = Client(short, "tessa", PASSWORDS["tessa"])
    expect(c, "GET", "/api/v1/me", 200, None, f"{what}: fresh session")
    time.sleep(2.2)  # past the 1 s limit (whole seconds on the server's clock)
    st, hdrs, _ = c.call("GET", "/api/v1/me")
    check(st == 401 and "Max-Age=0" in hdrs.get("set-cookie", ""), f"{what} expiry: {st} {hdrs.get('set-cookie')}")
    check(short.stop() == 0, "serve exit status")

shutil.rmtree(data)
finish()
