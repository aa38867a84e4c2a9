"""server_lib.py — shared by the lab server's integration tests: a real `polydaq serve` on
loopback over a fresh data folder, accounts made with the CLI, an HTTP client that keeps its
session cookie and CSRF token, and the check of every answer against docs/openapi.yaml and the
security headers every answer must carry."""
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import jsonschema
import yaml

CLI = os.environ.get("PD_CLI", "build/polydaq")
SOURCE = os.environ.get("PD_SOURCE_DIR", ".")
PASSWORDS = {}  # login → password, for the log check

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


class OpenAPI:
    """Answers checked against the documented schema of their operation and status."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver("", self.doc)
        self.templates = []
        for p in self.doc["paths"]:
            rx = p
            for name, value in (("{id}", "[1-9][0-9]{0,14}"), ("{number}", "CERT-[0-9]{6,12}"),
                                ("{file}", "[a-z0-9][a-z0-9._-]{0,63}")):
                rx = rx.replace(name, value)
            rx = "^" + rx + "$"
            self.templates.append((re.compile(rx), p))
        self.checked = 0

    def operations(self):
        for p, item in self.doc["paths"].items():
            for m in ("get", "post", "delete", "put", "patch"):
                if m in item:
                    yield m.upper(), p

    def validate(self, method, path, status, body, content_type="application/json"):
        for rx, p in self.templates:
            if rx.match(path):
                break
        else:
            return  # not an API path: 404 by the router, nothing documented
        op = self.doc["paths"][p].get(method.lower())
        if op is None:
            check(status == 405, f"{method} {path}: undocumented method answered {status}")
            return
        resp = op["responses"].get(str(status))
        if not check(resp is not None, f"{method} {path}: status {status} is not documented in openapi.yaml"):
            return
        if "$ref" in resp:
            resp = self.resolver.resolve(resp["$ref"])[1]
        if isinstance(body, bytes):  # a document (the label sheet): its type must be the documented one
            check(content_type in resp.get("content", {}),
                  f"{method} {path} {status}: {content_type} is not documented in openapi.yaml")
            self.checked += 1
            return
        schema = resp["content"]["application/json"]["schema"]
        try:
            jsonschema.Draft202012Validator(schema, resolver=self.resolver).validate(body)
            self.checked += 1
        except jsonschema.ValidationError as e:
            fail(f"{method} {path} {status}: answer does not match openapi.yaml: {e.message} at {list(e.path)}")


API = OpenAPI(os.path.join(SOURCE, "docs", "openapi.yaml"))

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


class Server:
    def __init__(self, data, *extra):
        self.data = data
        self.log = open(os.path.join(data, "access.log"), "w")
        self.errpath = os.path.join(data, "serve.err")
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen([CLI, "serve", "--data", data, "--listen", "127.0.0.1:0", *extra],
                                     stdout=self.log, stderr=self.err)
        self.port = None
        for _ in range(200):
            with open(self.errpath) as f:
                m = re.search(r"listening http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("polydaq serve did not start: " + open(self.errpath).read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            fail("polydaq serve did not stop within 30 s of the signal")
        self.log.close()
        self.err.close()
        if rc != 0:
            print(open(self.errpath).read()[-6000:], file=sys.stderr)
        return rc


class Client:
    def __init__(self, server, login=None, password=None):
        self.server = server
        self.cookie = None
        self.csrf = None
        if login:
            st, body = self.login(login, password)
            if not check(st == 201, f"login {login}: {st} {body}"):
                raise RuntimeError("login failed")

    def login(self, login, password):
        st, _, body = self.call("POST", "/api/v1/session", {"login": login, "password": password})
        if st == 201:
            self.csrf = body["user"]["csrf_token"]
        return st, body

    def call(self, method, path, body=None, raw=None, headers=None, csrf=True, content_type="application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        h = {}
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if raw is not None and content_type:
            h["Content-Type"] = content_type
        if self.cookie:
            h["Cookie"] = "pd_session=" + self.cookie
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if raw is not None:
            conn.putheader("Content-Length", str(len(raw)))
        conn.endheaders(raw)
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        for k, v in SECURITY_HEADERS.items():
            check(hdrs.get(k) == v, f"{method} {path}: header {k} is {hdrs.get(k)!r}, expected {v!r}")
        if hdrs.get("content-type") == "application/x-hdf5" and resp.status == 200:  # a run file
            API.validate(method, path.split("?")[0], resp.status, data, "application/x-hdf5")
            return resp.status, hdrs, data
        if hdrs.get("content-type") == "application/pdf" and resp.status == 200:
            check(data.startswith(b"%PDF-"), f"{method} {path}: a PDF that does not start with %PDF-")
            API.validate(method, path.split("?")[0], resp.status, data, "application/pdf")
            return resp.status, hdrs, data
        if hdrs.get("content-type", "").startswith("text/event-stream") and resp.status == 200:  # a stream, read to its end
            API.validate(method, path.split("?")[0], resp.status, data, "text/event-stream")
            return resp.status, hdrs, data
        check(hdrs.get("content-type", "").startswith("application/json"), f"{method} {path}: not JSON")
        cookie = hdrs.get("set-cookie")
        if cookie:
            check("HttpOnly" in cookie and "SameSite=Strict" in cookie, f"cookie flags missing: {cookie}")
            m = re.match(r"pd_session=([0-9a-f]*);", cookie)
            if m:
                self.cookie = m.group(1) or None
        try:
            parsed = json.loads(data)
        except ValueError:
            fail(f"{method} {path}: answer is not JSON: {data[:200]!r}")
            parsed = None
        API.validate(method, path.split("?")[0], resp.status, parsed)
        return resp.status, hdrs, parsed


ROLES = ["anonymous", "member A", "member B", "technician", "reviewer", "authorizer", "admin"]
ACCOUNTS = {  # role → (login, name, cli role, member)
    "member A": ("alice", "Alice Acme", "member", "Acme Polymers GmbH"),
    "member B": ("bruno", "Bruno Beta", "member", "Beta Plastics AG"),
    "technician": ("tessa", "Tessa Tech", "technician", None),
    "reviewer": ("rita", "Rita Review", "reviewer", None),
    "authorizer": ("arno", "Arno Auth", "authorizer", None),
    "admin": ("ada", "Ada Admin", "admin", None),
}


def cli(*args, stdin=None):
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True)


def make_certs(data):
    """The certificate side of a data folder: DATA/certs with the lab key registered, the demo
    spec in DATA/specs, and a station key (registered) in DATA-station; returns that folder (its
    run.yaml makes sealed runs with `make_run`)."""
    certs = os.path.join(data, "certs")
    os.makedirs(certs)
    for args in (["keygen", "-o", certs],
                 ["registry", "init", certs, "--lab-key", os.path.join(certs, "lab.pub"), "--name", "Test Lab"]):
        r = cli(*args)
        assert r.returncode == 0, r.stderr
    cfg = data + "-station"
    os.makedirs(os.path.join(cfg, "keys"))
    # The integration tests' quick simulated series (five specimens in seconds), sealed by a station.
    with open(os.path.join(SOURCE, "tests", "integration", "data", "fast-tensile.yaml")) as f:
        config = f.read()
    with open(os.path.join(cfg, "run.yaml"), "w") as f:
        f.write(config + "\nstation:\n  name: demo station\n  key: keys/station-demo.key\n")
    for args in (["keygen", "--station", "demo", "-o", os.path.join(cfg, "keys")],
                 ["registry", "station", "add", "--key", os.path.join(cfg, "keys", "station-demo.pub"), "--name",
                  "demo station", "-o", certs]):
        r = cli(*args)
        assert r.returncode == 0, r.stderr
    os.makedirs(os.path.join(data, "specs"))
    shutil.copy(os.path.join(SOURCE, "config", "specs", "pp-demo.yaml"), os.path.join(data, "specs"))
    return cfg


def make_run(cfg, out):
    """A sealed run of the simulated load frame (5 specimens) in folder `out`; returns its path."""
    r = cli("run", os.path.join(cfg, "run.yaml"), "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    return os.path.join(out, [f for f in os.listdir(out) if f.endswith(".h5")][0])


def make_lab(certs=False):
    """A data folder with members A and B and one account per role; returns (dir, member ids).
    certs: with the certificate registry first (make_certs), so reviewer and authorizer get their
    signing keys."""
    data = tempfile.mkdtemp(prefix="pd-server-")
    if certs:
        make_certs(data)
    ids = {}
    for name in ("Acme Polymers GmbH", "Beta Plastics AG"):
        r = cli("member", "add", "--data", data, name)
        assert r.returncode == 0, r.stderr
        ids[name] = int(r.stdout)
    for role, (login, name, cli_role, member) in ACCOUNTS.items():
        pw = f"pw-{login}-correct-horse"
        PASSWORDS[login] = pw
        args = ["user", "add", login, "--data", data, "--name", name, "--role", cli_role]
        if member:
            args += ["--member", member]
        r = cli(*args, stdin=pw + "\n")
        assert r.returncode == 0, r.stderr
    return data, ids["Acme Polymers GmbH"], ids["Beta Plastics AG"]


def register_certificates(data, numbers, status="issued"):
    """The lab's registry DATA/certs (made with the CLI when missing) holding certificates with
    these numbers in `status`: rows written straight into registry.sqlite, since the server only
    asks whether a number was issued (issuing real ones needs runs, keys and two approvals)."""
    certs = os.path.join(data, "certs")
    if not os.path.exists(os.path.join(certs, "registry.sqlite")):
        r = cli("keygen", "-o", os.path.join(data, "lab-key"))
        assert r.returncode == 0, r.stderr
        r = cli("registry", "init", certs, "--lab-key", os.path.join(data, "lab-key", "lab.pub"))
        assert r.returncode == 0, r.stderr
    db = sqlite3.connect(os.path.join(certs, "registry.sqlite"))
    with db:
        for n in numbers:
            db.execute("INSERT INTO certificates (number, certificate_id, status, document, content_sha256, "
                       "document_sha256, drafted, issued) VALUES (?, ?, ?, '{}', ?, ?, ?, ?)",
                       (int(n[5:]), n, status, "0" * 64, "0" * 64, "2026-12-01T10:00:00Z",
                        None if status in ("draft", "reviewed") else "2026-12-01T11:00:00Z"))
    db.close()


def new_request(client, material="PP H350 natural"):
    st, _, body = client.call("POST", "/api/v1/requests", {
        "material": material, "methods": ["ISO 527-2/1A/50"], "specimens": 5,
        "conditioning": "ISO 291 23/50, 88 h", "due_date": "2099-12-31", "decision_rule_agreed": True})
    assert st == 201, (st, body)
    return body["id"]


REVIEW = {"contract_review": {"requirements_defined": True, "methods_appropriate": True,
                              "capability_and_resources": True, "due_date_feasible": True,
                              "subcontracting": False}, "comments": "all points checked"}


def finish():
    print(f"{API.checked} answers validated against docs/openapi.yaml", file=sys.stderr)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
