"""station_shore_http.py — an ISO 868 Shore series from the station, against `polydaq serve --lab
config/station-demo.yaml` (its simulated durometer, durometer1) over plain HTTP, for
station_shore_http_test.sh (docs/STATION.md "A Shore series"). /stations names durometer1 a free
Shore station (method iso868, no caliper); a technician starts a 3-specimen series on it (201); an
SSE client reads its stream: the hello's plot is dwell [s] / hardness, each specimen asks for its
thickness alone; a thickness out of the range is 422 with nothing stored; a second start on the busy
durometer is 409; `return` is refused by the run (422); each specimen's thickness typed, started,
specimen 2 marked invalid with a reason. Then h5py: every streamed point is a reading of the file
(x = dwell, y = hardness), each specimen's thickness in its sample group; `polydaq certify` with a
Shore A spec gives each valid specimen the mean of its own readings (numpy) and excludes specimen 2
with the reason. After a server restart the ended series' stream replays the file: the same axes,
every reading a point, the end."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

from server_lib import CLI, PASSWORDS, Client, Server, check, failures
from sse_lib import STATION_LAB, Stream, start_series, station_lab, wait_for

data, server, people, req, items = station_lab("TPE hardness lot", 3, "6 mm plate stacks", "rack 3")
alice, rita, tessa = people["alice"], people["rita"], people["tessa"]

st, _, stations = tessa.call("GET", "/api/v1/stations")
dur = [s for s in stations["stations"] if s["name"] == "durometer1"]
check(dur and dur[0]["method"] == "iso868" and dur[0]["caliper"] is None and dur[0]["state"] == "free",
      f"durometer1 is a free Shore station: {stations}")

sid, stream, hello = start_series(server, tessa, req, items, "iso868", "durometer1")
check(hello["method"] == "iso868" and hello["instrument"] == "durometer1" and hello["specimens"] == 3 and
      hello["plot"] == {"x": "dwell", "x_unit": "s", "y": "hardness", "y_unit": "1"}, f"the hello's axes: {hello}")


def command(cmd, body=None, want=200):
    st, _, got = tessa.call("POST", f"/api/v1/series/{sid}/{cmd}", body)
    check(st == want, f"{cmd} {body}: {st} {got}")
    return got


wait_for(lambda: stream.state() == (1, "waiting_dims"), "specimen 1 waits for its thickness")
need = stream.of("need_dims")[0]
check([(f["name"], f["min"], f["max"], f["required"]) for f in need["fields"]] == [("thickness", 0.1, 100.0, True)],
      f"the thickness alone, in the method's range: {need}")
got = command("dims", {"specimen": 1, "values": {"thickness": 120}}, want=422)
check("thickness" in json.dumps(got), f"out of range, said: {got}")
st, _, busy = tessa.call("POST", "/api/v1/series", {"request_id": req, "item_ids": items[:1], "method": "iso868",
                                                    "instrument": "durometer1"})
check(st == 409 and f"in use by series {sid}" in busy["error"]["message"], f"a second start on the busy durometer: {st} {busy}")
got = command("return", want=422)
check("no crosshead" in json.dumps(got), f"return refused by the run: {got}")

thickness = {1: 6.1, 2: 5.9, 3: 6.3}
for n in (1, 2, 3):
    wait_for(lambda: stream.state() == (n, "waiting_dims"), f"specimen {n} waits for its thickness")
    command("dims", {"specimen": n, "values": {"thickness": thickness[n]}})
    wait_for(lambda: stream.state() == (n, "ready"), f"specimen {n} ready")
    command("start")
    # (a durometer has nothing to return: the next specimen's waiting_dims follows its done at once)
    wait_for(lambda: any(e["specimen"] == n and e["state"] == "done" for e in stream.of("state")), f"specimen {n} done")
    if n == 2:
        command("invalid", {"specimen": 2, "reason": "air bubble under the presser foot"})
wait_for(lambda: stream.ended, "the stream's end")
end = stream.of("end")
check(len(end) == 1 and end[0]["outcome"] == "completed", f"the end: {end}")
wait_for(lambda: tessa.call("GET", f"/api/v1/series/{sid}")[2]["state"] == "finished", "the series finished")
rec = tessa.call("GET", f"/api/v1/series/{sid}")[2]
check(rec["outcome"] == "completed", f"recorded outcome: {rec['outcome']}")

readings = {}
with h5py.File(rec["file"], "r") as f:
    for n in (1, 2, 3):
        g = f["specimen_%02d" % n]
        readings[n] = (np.asarray(g["durometer1/dwell"][()], dtype=float), np.asarray(g["durometer1/hardness"][()], dtype=float))
        check(float(g["sample/thickness"][()]) == thickness[n], f"specimen {n}'s own thickness in the file")
        check(len(readings[n][1]) == 5, f"specimen {n}: 5 readings ({len(readings[n][1])})")
    check(f["specimen_02/sample/invalid_reason"][()].decode() == "air bubble under the presser foot",
          "specimen 2's invalid mark in the file")


def unmatched(n, xs, ys):
    dx, hy = readings[n]
    return sum(1 for x, y in zip(xs, ys) if not np.any((dx == x) & (hy == y)))


for n in (1, 2, 3):
    xs = [x for e in stream.of("points") if e["specimen"] == n for x in e["x"]]
    ys = [y for e in stream.of("points") if e["specimen"] == n for y in e["y"]]
    check(len(xs) == 5 and unmatched(n, xs, ys) == 0, f"specimen {n}: every live point a reading of the file ({len(xs)})")
    check(unmatched(n, xs, [y + 0.05 for y in ys]) == len(xs), "a shifted point is no reading (the check can fail)")

# ---- certify: each valid specimen's mean of its own readings; specimen 2 excluded ---------------
spec = os.path.join(data, "shore-spec.yaml")
with open(spec, "w") as f:
    f.write("spec:\n  name: TPE demo grade — Shore A\n  material: TPE demo grade\n  method: iso868\n"
            "  decision_rule: simple\nproperties:\n  - {property: shore_a, statistic: mean, min: 55, max: 75, unit: Shore A}\n")
r = subprocess.run([CLI, "certify", rec["file"], "--spec", spec, "-o", os.path.join(data, "certs-shore")],
                   capture_output=True, text=True)
if check(r.returncode in (0, 1), f"certify: {r.returncode} {r.stderr}"):
    cert = json.load(open(r.stdout.splitlines()[0]))
    by_id = {c["id"][-3:]: c for c in cert["specimens"]}
    for n in (1, 3):
        dx, hy = readings[n]
        mean = float(np.mean(hy[np.abs(dx - 15.0) <= 1.0]))
        got = by_id["S%02d" % n].get("results", {}).get("shore_a", {}).get("value")
        check(got is not None and abs(got - mean) <= 1e-9 * mean, f"specimen {n}: Shore A {got}, numpy {mean}")
    s2 = by_id["S02"]
    check("shore_a" not in s2.get("results", {}) and "air bubble under the presser foot" in json.dumps(s2),
          f"specimen 2 excluded with the reason: {s2}")
    check(cert["series"]["shore_a"]["n"] == 2, f"two specimens in the statistics: {cert['series'].get('shore_a')}")

# ---- after a restart the ended series replays its file ------------------------------------------------
check(server.stop() == 0, "polydaq serve's exit status after SIGTERM")
server = Server(data, "--lab", STATION_LAB, "--listen", f"127.0.0.1:{server.port}")
tessa = Client(server, "tessa", PASSWORDS["tessa"])
replay = Stream(tessa, sid)
wait_for(lambda: replay.ended, "the replay's end")
h = replay.of("hello")
check(len(h) == 1 and h[0]["plot"] == hello["plot"], f"the replay's hello: {h}")
for n in (1, 2, 3):
    rx = [x for e in replay.of("points") if e["specimen"] == n for x in e["x"]]
    ry = [y for e in replay.of("points") if e["specimen"] == n for y in e["y"]]
    check(len(rx) == 5 and unmatched(n, rx, ry) == 0, f"the replay's specimen {n}: every reading a point ({len(rx)})")
check([e["outcome"] for e in replay.of("end")] == ["completed"], f"the replay's end: {replay.of('end')}")
check(server.stop() == 0, "polydaq serve's exit status at the end")
sys.exit(1 if failures else 0)
