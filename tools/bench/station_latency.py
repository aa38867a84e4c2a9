#!/usr/bin/python3
"""station_latency.py — the test station's live latency: from a sample's acquisition timestamp (the
"ts" of a points event, docs/STATION.md) to that event arriving at a Server-Sent Events client of
`polydaq serve`, with the load frame polled at 1 kHz, and what viewers cost.

One series of three specimens on the simulated frame (config/station-demo.yaml at --rate Hz):
  specimen 1 — no viewer (the reference for the acquisition's timing and the server's CPU),
  specimen 2 — 1 viewer (the latency reference),
  specimen 3 — --viewers viewers (20).
Every viewer is a raw socket read by one selector loop, which stamps each event's arrival with
CLOCK_REALTIME (the clock "ts" is on, same machine). The server's CPU time (utime + stime from
/proc) is taken over each specimen; the acquisition's timing from the run file: each sample's
offset from the poll grid (|t - nearest multiple of the period from the specimen's first sample|),
p99 per specimen. Usage:

    /usr/bin/python3 tools/bench/station_latency.py [--cli build/polydaq] [--viewers 20] [--rate 1000]
"""
import argparse
import http.client
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--cli", default="build/polydaq")
ap.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ap.add_argument("--viewers", type=int, default=20)
ap.add_argument("--rate", type=int, default=1000)
ap.add_argument("--time-scale", default="2", help="the simulator's time scale (a specimen lasts ~20 s at 2)")
args = ap.parse_args()

data = tempfile.mkdtemp(prefix="pd-bench-station-")
lab = os.path.join(data, "lab.yaml")
with open(os.path.join(args.source, "config", "station-demo.yaml")) as f:
    text = f.read()
text = re.sub(r"poll_rate_hz: 200", f"poll_rate_hz: {args.rate}", text, count=1)
text = re.sub(r'--time-scale, "[0-9.]+"', f'--time-scale, "{args.time_scale}"', text)
with open(lab, "w") as f:
    f.write(text)


def cli(*a, stdin=None):
    r = subprocess.run([args.cli, *a], input=stdin, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


cli("member", "add", "--data", data, "Bench Member")
for login, role, member in (("mia", "member", "Bench Member"), ("rob", "reviewer", None), ("ted", "technician", None)):
    a = ["user", "add", login, "--data", data, "--name", login.title(), "--role", role]
    cli(*(a + (["--member", member] if member else [])), stdin=f"pw-{login}-bench-horse\n")
err = open(os.path.join(data, "serve.err"), "w")
serve = subprocess.Popen([args.cli, "serve", "--data", data, "--listen", "127.0.0.1:0", "--lab", lab,
                          "--access-log", os.devnull], stderr=err)
port = None
for _ in range(200):
    m = re.search(r"listening http://127\.0\.0\.1:(\d+)", open(err.name).read())
    if m:
        port = int(m.group(1))
        break
    time.sleep(0.05)
assert port, open(err.name).read()


class Session:
    def __init__(self, login):
        self.cookie = self.csrf = None
        st, body = self.call("POST", "/api/v1/session", {"login": login, "password": f"pw-{login}-bench-horse"})
        assert st == 201, body
        self.csrf = body["user"]["csrf_token"]

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        h = {"Content-Type": "application/json"} if body is not None else {}
        if self.cookie:
            h["Cookie"] = "pd_session=" + self.cookie
        if self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        raw = r.read()
        m = re.match(r"pd_session=([0-9a-f]+);", r.getheader("Set-Cookie") or "")
        if m:
            self.cookie = m.group(1)
        c.close()
        return r.status, json.loads(raw) if raw else None


mia, rob, ted = Session("mia"), Session("rob"), Session("ted")
st, req = mia.call("POST", "/api/v1/requests", {"material": "PP bench", "methods": ["ISO 527-2/1A/50"], "specimens": 3,
                                               "conditioning": "none", "due_date": "2099-12-31",
                                               "decision_rule_agreed": True})
assert st == 201, req
st, _ = rob.call("POST", f"/api/v1/requests/{req['id']}/accept", {
    "contract_review": {"requirements_defined": True, "methods_appropriate": True, "capability_and_resources": True,
                        "due_date_feasible": True, "subcontracting": False}})
assert st == 200
st, items = ted.call("POST", f"/api/v1/requests/{req['id']}/items", {
    "count": 3, "description": "bar", "condition": "ok", "conforming": True, "storage": "bench"})
assert st == 201, items
st, series = ted.call("POST", "/api/v1/series", {"request_id": req["id"], "item_ids": [i["item_id"] for i in items["items"]],
                                                "method": "iso527", "instrument": "frame1"})
assert st == 201, series
sid = series["id"]


def open_viewer():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"GET /api/v1/series/{sid}/events HTTP/1.1\r\nHost: b\r\nCookie: pd_session={rob.cookie}\r\n\r\n").encode())
    s.setblocking(False)
    return s


def cpu_s():
    with open(f"/proc/{serve.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def state_of():
    return ted.call("GET", f"/api/v1/series/{sid}")[1]["run_state"] or {}


def wait_state(specimen, states, limit_s=300):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        s = state_of()
        if s.get("specimen") == specimen and s.get("state") in states:
            return s
        time.sleep(0.05)
    serve.terminate()
    sys.exit(f"specimen {specimen} never reached {states}: {state_of()}")


results = []
for specimen, n in ((1, 0), (2, 1), (3, args.viewers)):
    wait_state(specimen, ("waiting_dims",))
    print(f"specimen {specimen}: {n} viewer(s)", file=sys.stderr, flush=True)
    socks = [open_viewer() for _ in range(n)]
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    raw = {s: b"" for s in socks}
    heads = {s: False for s in socks}
    st, _ = ted.call("POST", f"/api/v1/series/{sid}/dims", {"specimen": specimen, "values": {"width": 10.0, "thickness": 4.0}})
    assert st == 200
    cpu0, wall0 = cpu_s(), time.monotonic()
    st, _ = ted.call("POST", f"/api/v1/series/{sid}/start")
    assert st == 200
    lat = []
    done = False
    last_check = time.monotonic()
    while not done:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                chunk = s.recv(1 << 16)
            except BlockingIOError:
                continue
            now = time.time_ns()
            raw[s] += chunk
            # the answer's headers, then its chunks (HTTP/1.1 chunked encoding) joined into text
            if not heads[s]:
                end = raw[s].find(b"\r\n\r\n")
                if end < 0:
                    continue
                raw[s] = raw[s][end + 4:]
                heads[s] = True
            while True:
                eol = raw[s].find(b"\r\n")
                if eol < 0:
                    break
                size = int(raw[s][:eol], 16)
                if len(raw[s]) < eol + 2 + size + 2:
                    break
                bufs[s] += raw[s][eol + 2:eol + 2 + size]
                raw[s] = raw[s][eol + 2 + size + 2:]
            # each event is one "data: {...}" line
            *lines, bufs[s] = bufs[s].split(b"\n")
            for line in lines:
                if line.startswith(b"data: ") and b'"type":"points"' in line:
                    ev = json.loads(line[6:])
                    if ev.get("specimen") == specimen and "ts" in ev:
                        lat.append((now - ev["ts"]) / 1e6)
        if time.monotonic() - last_check > 0.5:
            last_check = time.monotonic()
            done = state_of().get("state") not in ("running",)
    cpu = cpu_s() - cpu0
    wall = time.monotonic() - wall0
    for s in socks:
        s.close()
    results.append({"specimen": specimen, "viewers": n, "lat": np.array(lat), "cpu": cpu, "wall": wall})
    print(f"  {len(lat)} points events in {wall:.1f} s", file=sys.stderr, flush=True)

# The run file: each specimen's sample times against the poll grid.
end = time.monotonic() + 120
while time.monotonic() < end and ted.call("GET", f"/api/v1/series/{sid}")[1]["state"] != "finished":
    time.sleep(0.2)
run_file = ted.call("GET", f"/api/v1/series/{sid}")[1]["file"]
period = 1e9 / args.rate
with h5py.File(run_file, "r") as f:
    for r in results:
        t = np.asarray(f["specimen_%02d/frame1/time" % r["specimen"]][()], dtype=np.int64)
        off = (t - t[0]).astype(np.float64)
        dev = np.abs(off - np.round(off / period) * period) / 1e3
        r["grid_p99_us"] = float(np.percentile(dev, 99))
        r["samples"] = len(t)
        r["rate"] = len(t) / ((t[-1] - t[0]) / 1e9)

serve.terminate()
serve.wait()
print(f"machine: {os.cpu_count()} CPUs, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
print(f"| specimen | viewers | samples | rate [Hz] | events | latency p50 [ms] | p99 [ms] | max [ms] | server CPU [% of a core] | grid offset p99 [µs] |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in results:
    lat = r["lat"]
    p = (lambda q: f"{np.percentile(lat, q):.1f}") if len(lat) else (lambda q: "—")
    print(f"| {r['specimen']} | {r['viewers']} | {r['samples']} | {r['rate']:.0f} | {len(lat)} | {p(50)} | {p(99)} | "
          f"{(f'{lat.max():.1f}' if len(lat) else '—')} | {100 * r['cpu'] / r['wall']:.1f} | {r['grid_p99_us']:.0f} |")
base = results[0]["cpu"] / results[0]["wall"]
many = results[2]["cpu"] / results[2]["wall"]
print(f"server CPU per viewer: {100 * (many - base) / max(1, results[2]['viewers']):.2f} % of a core")
subprocess.run(["rm", "-rf", data])
