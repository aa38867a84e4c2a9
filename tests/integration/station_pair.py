"""station_pair.py — two test stations at once, then an ended series after a server restart, against
`polydaq serve --lab config/station-demo.yaml` with real `polydaq run --control` processes on the two
simulated frames (frame1, frame2, each with its own simulated caliper).

One technician in two tabs (two sessions) starts an ISO 527 series of three specimens on frame1 and
one on frame2 at the same moment and drives both to the end interleaved over plain HTTP: each
specimen's dimensions (specimen 1's width from each station's own caliper), start, and a stop of
frame2's specimen 2 mid-test. Meanwhile an SSE client reads each series' event stream, a reviewer
watches each series' page in headless Chromium (the curve grows, no controls; the reviewer's POSTs
are 403), and a third start on a busy frame is 409 while the other frame's series goes on.
Checked afterwards: each stream carries only its own series (its run id, its dimensions, and every
point it drew is a sample of its own run file's specimen, none of the other's); both run files hold
every specimen with its own dimensions; `polydaq certify` computes each specimen's strength from
its own cross-section (numpy). Then the server restarts: each ended series' page and event stream
still show the curve of every specimen (read from the run file, at most 2000 points each, every one
a sample of that specimen, its last sample last) and the final state, and the stream ends."""
import json
import os
import shutil
import subprocess
import sys
import threading

import h5py
import numpy as np

from server_lib import (CLI, PASSWORDS, REVIEW, SOURCE, Client, Server, check, fail, failures, make_lab,
                        new_request)
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By

from web_lib import Browser, PageWait
from sse_lib import CEILING, Stream, wait_for


data, member_a, member_b = make_lab()
lab = os.path.join(SOURCE, "config", "station-demo.yaml")
server = Server(data, "--lab", lab)
base = f"http://127.0.0.1:{server.port}"
alice = Client(server, "alice", PASSWORDS["alice"])
bruno = Client(server, "bruno", PASSWORDS["bruno"])
rita = Client(server, "rita", PASSWORDS["rita"])
tab1 = Client(server, "tessa", PASSWORDS["tessa"])  # the technician's two tabs: two sessions
tab2 = Client(server, "tessa", PASSWORDS["tessa"])


def request_with_items(member, material):
    req = new_request(member, material)
    assert rita.call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200
    st, _, body = tab1.call("POST", f"/api/v1/requests/{req}/items", {
        "count": 3, "description": "ISO 527-2 type 1A bar", "condition": "as expected", "conforming": True,
        "storage": "rack 2"})
    assert st == 201, (st, body)
    return req, [i["item_id"] for i in body["items"]]


def command(client, sid, cmd, body=None, want=200):
    st, _, got = client.call("POST", f"/api/v1/series/{sid}/{cmd}", body)
    check(st == want, f"series {sid} {cmd} {body}: {st} {got}")
    return got


# ---- Both stations free, each with its own caliper -----------------------------------------------------
st, _, stations = tab1.call("GET", "/api/v1/stations")
check([(s["name"], s["state"], s["caliper"], s["method"]) for s in stations["stations"]] ==
      [("frame1", "free", "caliper1", "iso527"), ("frame2", "free", "caliper2", "iso527"),
       ("chamber1", "free", None, "record"), ("durometer1", "free", None, "iso868")],
      f"the two frames, the chamber and the durometer: {stations}")
req_a, items_a = request_with_items(alice, "PP-H frame1 lot")
req_b, items_b = request_with_items(bruno, "PP-H frame2 lot")

# ---- Two starts at the same moment, one per frame: both run --------------------------------------------
answers = {}
starts = {"A": (tab1, {"request_id": req_a, "item_ids": items_a, "method": "iso527", "instrument": "frame1"}),
          "B": (tab2, {"request_id": req_b, "item_ids": items_b, "method": "iso527", "instrument": "frame2"})}
racers = [threading.Thread(target=lambda k=k, c=c, b=b: answers.__setitem__(k, c.call("POST", "/api/v1/series", b)))
          for k, (c, b) in starts.items()]
for t in racers:
    t.start()
for t in racers:
    t.join()
if not (check(answers["A"][0] == 201 and answers["B"][0] == 201,
              f"two starts on two frames at once: {answers['A'][:3:2]} {answers['B'][:3:2]}")):
    server.stop()
    sys.exit(1)
series = {k: answers[k][2] for k in "AB"}
sid = {k: series[k]["id"] for k in "AB"}
client = {"A": tab1, "B": tab2}
check(series["A"]["run_id"] != series["B"]["run_id"] and series["A"]["file"] != series["B"]["file"],
      f"two runs, two files: {series['A']['run_id']} {series['B']['run_id']}")
streams = {k: Stream(client[k], sid[k]) for k in "AB"}
for k in "AB":
    check(streams[k].status == 200 and streams[k].ctype.startswith("text/event-stream"),
          f"series {k}'s event stream: {streams[k].status} {streams[k].ctype}")
st, _, stations = tab1.call("GET", "/api/v1/stations")
check([(s["name"], s["series_id"]) for s in stations["stations"]] ==
      [("frame1", sid["A"]), ("frame2", sid["B"]), ("chamber1", None), ("durometer1", None)],
      f"both stations busy with their series: {stations}")

browser = Browser(base, None, on_skip=lambda: (server.stop(), shutil.rmtree(data)))
driver = browser.driver
browser.login("rita", PASSWORDS["rita"])


def attr(css, name):
    els = driver.find_elements(By.CSS_SELECTOR, css)
    return els[0].get_attribute(name) if els else None


def reviewer_opens(k):
    """Rita's page of series k (before its specimen starts): the viewer-only note, no control; her
    POSTs to the series are 403."""
    driver.get(f"{base}/series/{sid[k]}")
    instrument = "frame1" if k == "A" else "frame2"
    browser.wait_heading(f"Series {sid[k]} on {instrument}", f"the reviewer's page of series {k}")
    check(not driver.find_elements(By.ID, "controls") and not driver.find_elements(By.ID, "dims-form")
          and driver.find_elements(By.ID, "viewer-only"), f"the reviewer's page of series {k} has no controls")
    for cmd, body in (("start", None), ("stop", None), ("abort", None), ("note", {"specimen": 1, "text": "x"}),
                      ("dims", {"specimen": 1, "values": {"width": 10.0, "thickness": 4.0}})):
        command(rita, sid[k], cmd, body, want=403)


def reviewer_sees_growth(k):
    """On Rita's page the running specimen's curve grows (its point count read twice)."""
    try:
        PageWait(driver, CEILING, poll_frequency=0.05).until(lambda d: int(attr("#plot", "data-points") or 0) > 0)
        first = int(attr("#plot", "data-points"))
        PageWait(driver, CEILING, poll_frequency=0.05).until(lambda d: int(attr("#plot", "data-points")) > first)
    except TimeoutException:
        fail(f"the reviewer's curve of series {k} did not grow ({attr('#plot', 'data-points')} points)")
    check(driver.find_elements(By.CSS_SELECTOR, "#plot canvas"), f"the reviewer sees series {k}'s plot")


# ---- Both series driven to the end, interleaved -------------------------------------------------------
dims = {"A": {1: ("caliper", 4.01), 2: (10.11, 3.97), 3: (9.93, 4.05)},
        "B": {1: ("caliper", 3.91), 2: (9.87, 4.08), 3: (10.04, 3.95)}}
caliper_reads = {"A": 10.0, "B": 9.95}  # the simulated calipers' readings: each frame's own
for n in (1, 2, 3):
    for k in "AB":
        wait_for(lambda: streams[k].state() == (n, "waiting_dims"), f"series {k} specimen {n} waits for dims")
    for k in "AB":
        width, thickness = dims[k][n]
        if width == "caliper":
            command(client[k], sid[k], "caliper", {"specimen": n, "field": "width"})
            command(client[k], sid[k], "dims", {"specimen": n, "values": {"thickness": thickness}})
        else:
            command(client[k], sid[k], "dims", {"specimen": n, "values": {"width": width, "thickness": thickness}})
    if n in (1, 3):
        reviewer_opens("A" if n == 1 else "B")
    for k in "AB":
        wait_for(lambda: streams[k].state() == (n, "ready"), f"series {k} specimen {n} ready")
        command(client[k], sid[k], "start")
    for k in "AB":
        wait_for(lambda: streams[k].state()[0] == n and streams[k].points(n) > 0, f"series {k} specimen {n} draws")
    if n == 1:
        # A third start on the busy frame1: 409 naming series A; frame2's series goes on.
        before = streams["B"].points(1)
        st, _, body = tab1.call("POST", "/api/v1/series", {"request_id": req_a, "item_ids": items_a[:1],
                                                           "method": "iso527", "instrument": "frame1"})
        check(st == 409 and f"series {sid['A']}" in body["error"]["message"], f"a third start on frame1: {st} {body}")
        st, _, body = tab2.call("POST", "/api/v1/series", {"request_id": req_b, "item_ids": items_b[:1],
                                                           "method": "iso527", "instrument": "frame2"})
        check(st == 409 and f"series {sid['B']}" in body["error"]["message"], f"a third start on frame2: {st} {body}")
        wait_for(lambda: streams["B"].points(1) > before, "frame2's curve grows after the refused start on frame1")
        check(streams["B"].state() == (1, "running"), f"frame2's series still runs: {streams['B'].state()}")
    if n in (1, 3):
        reviewer_sees_growth("A" if n == 1 else "B")
    if n == 2:
        # frame2's specimen 2 stopped by the technician mid-test, once its stress passed 20 MPa (of ~32)
        wait_for(lambda: max([y for e in streams["B"].of("points") if e["specimen"] == 2 for y in e["y"]] or [0]) > 20,
                 "frame2's specimen 2 passes 20 MPa")
        command(tab2, sid["B"], "stop")
    for k in "AB":
        wait_for(lambda: streams[k].state()[0] > n or streams[k].state()[1] in ("done", "returning", "finished")
                 or streams[k].of("end"), f"series {k} specimen {n} done")
for k in "AB":
    wait_for(lambda: streams[k].ended, f"series {k}'s stream ends with the run")
    check(streams[k].error is None, f"series {k}'s stream: {streams[k].error}")
    wait_for(lambda: client[k].call("GET", f"/api/v1/series/{sid[k]}")[2]["state"] == "finished",
             f"series {k} recorded finished")
    series[k] = client[k].call("GET", f"/api/v1/series/{sid[k]}")[2]
    check(series[k]["outcome"] == "completed", f"series {k}'s outcome: {series[k]['outcome']}")
    check(any(e["action"] == "start" and e["by"] == "tessa" for e in series[k]["history"]),
          f"series {k}'s history holds the technician's starts")


# ---- Each stream carries its own series only ------------------------------------------------------------
def file_curves(path):
    """Per specimen: (strain %, stress MPa) of every sample with the specimen's own dimensions, and its
    width and thickness, read with h5py."""
    out = {}
    with h5py.File(path, "r") as f:
        for n in (1, 2, 3):
            g = f["specimen_%02d" % n]
            b, h = float(g["sample/width"][()]), float(g["sample/thickness"][()])
            l0 = float(g["sample/gauge_length"][()])
            force = np.asarray(g["frame1/force" if "frame1" in g else "frame2/force"][()], dtype=float)
            ext = np.asarray(g["frame1/extension" if "frame1" in g else "frame2/extension"][()], dtype=float)
            ok = np.isfinite(force) & np.isfinite(ext)
            out[n] = (ext[ok] / l0 * 100.0, force[ok] / (b * h), b, h, force)
    return out


def unmatched(xs, ys, curve):
    """How many of the points are not a sample of the curve (relative 1e-6)."""
    fx, fy = curve[0], curve[1]
    missing = 0
    for x, y in zip(xs, ys):
        if not np.any(np.isclose(fx, x, rtol=1e-6, atol=1e-9) & np.isclose(fy, y, rtol=1e-6, atol=1e-9)):
            missing += 1
    return missing


curves = {k: file_curves(series[k]["file"]) for k in "AB"}
for k, other in (("A", "B"), ("B", "A")):
    s = streams[k]
    hellos = s.of("hello")
    check(len(hellos) == 1 and hellos[0]["run_id"] == series[k]["run_id"]
          and hellos[0]["instrument"] == ("frame1" if k == "A" else "frame2"),
          f"series {k}'s stream greets with its own run: {hellos}")
    got_dims = {}
    for e in s.of("dims"):
        got_dims.setdefault(e["specimen"], {}).update(e["values"])
    want_dims = {n: {"width": caliper_reads[k] if w == "caliper" else w, "thickness": t}
                 for n, (w, t) in dims[k].items()}
    check(got_dims == want_dims, f"series {k}'s stream carries its own dimensions: {got_dims}, want {want_dims}")
    specimens = {e["specimen"] for e in s.of("points")}
    check(specimens == {1, 2, 3}, f"series {k}'s points are for its specimens 1..3: {specimens}")
    for n in (1, 2, 3):
        xs = [x for e in s.of("points") if e["specimen"] == n for x in e["x"]]
        ys = [y for e in s.of("points") if e["specimen"] == n for y in e["y"]]
        check(0 < len(xs) <= 2000, f"series {k} specimen {n}: {len(xs)} points")
        check(unmatched(xs, ys, curves[k][n]) == 0, f"series {k} specimen {n}: a point that is not its own sample")
        miss = unmatched(xs[:50], ys[:50], curves[other][n]) + unmatched(xs[-50:], ys[-50:], curves[other][n])
        check(miss > 0, f"series {k} specimen {n}: its points are series {other}'s samples too")
    end = s.of("end")
    check(len(end) == 1 and end[0]["outcome"] == "completed" and end[0]["file"] == series[k]["file"],
          f"series {k}'s stream ends with its own end: {end}")

# ---- Both run files complete, each specimen with its own dimensions; the certificates ------------------------
for k in "AB":
    with h5py.File(series[k]["file"], "r") as f:
        check(f.attrs["outcome"] == b"completed" or f.attrs["outcome"] == "completed",
              f"series {k}'s file outcome {f.attrs['outcome']}")
        check(sorted(x for x in f if x.startswith("specimen_")) == ["specimen_01", "specimen_02", "specimen_03"],
              f"series {k}'s file holds three specimens: {list(f)}")
        for n in (1, 2, 3):
            g = f["specimen_%02d" % n]
            want_w = caliper_reads[k] if dims[k][n][0] == "caliper" else dims[k][n][0]
            check(abs(g["sample/width"][()] - want_w) < 1e-9 and abs(g["sample/thickness"][()] - dims[k][n][1]) < 1e-9,
                  f"series {k} specimen {n}: b={g['sample/width'][()]}, h={g['sample/thickness'][()]} in the file")
            check(g["sample/width_source"][()].decode().startswith(
                  "caliper " + ("caliper1" if k == "A" else "caliper2")) == (n == 1),
                  f"series {k} specimen {n}: width source {g['sample/width_source'][()]}")
            check(len(g[("frame1" if k == "A" else "frame2") + "/force"]) > 0, f"series {k} specimen {n} has samples")
            kinds = [e["kind"].decode() for e in g["events"][()]]
            check(("stop" in kinds) == (k == "B" and n == 2), f"series {k} specimen {n}: events {kinds}")
        check("frame2" not in f["specimen_01"] if k == "A" else "frame1" not in f["specimen_01"],
              f"series {k}'s file holds its own frame only")
    r = subprocess.run([CLI, "certify", series[k]["file"], "--spec",
                        os.path.join(SOURCE, "config", "specs", "pp-demo.yaml"), "-o", os.path.join(data, "certs-" + k)],
                       capture_output=True, text=True)
    if not check(r.returncode in (0, 1), f"certify series {k}: {r.returncode} {r.stderr}"):
        continue
    cert = json.load(open(r.stdout.splitlines()[0]))
    spec = {c["id"][-3:]: c for c in cert["specimens"]}
    for n in (1, 2, 3):
        _, _, b, h, force = curves[k][n]
        sigma = np.nanmax(force) / (b * h)
        got = spec["S%02d" % n].get("results", {}).get("tensile_strength", {}).get("value")
        check(got is not None and abs(got - sigma) <= 1e-9 * sigma,
              f"series {k} specimen {n}: σm {got}, numpy {sigma} with its own b·h")
    check(cert["series"]["tensile_strength"]["n"] == 3, f"series {k}: three specimens in its statistics")

# ---- After a server restart: each ended series' curves from its run file ------------------------------------
check(server.stop() == 0, "polydaq serve's exit status after SIGTERM (runs ended)")
server = Server(data, "--lab", lab, "--listen", f"127.0.0.1:{server.port}")  # the page's address stays
tab1 = Client(server, "tessa", PASSWORDS["tessa"])
rita = Client(server, "rita", PASSWORDS["rita"])
for k in "AB":
    st, _, s = tab1.call("GET", f"/api/v1/series/{sid[k]}")
    check(st == 200 and not s["live"] and s["state"] == "finished" and s["outcome"] == "completed",
          f"series {k} after the restart: {s}")
    replay = Stream(tab1, sid[k])
    check(replay.status == 200, f"series {k}'s stream after the restart: {replay.status}")
    wait_for(lambda: replay.ended, f"series {k}'s replayed stream ends")
    hellos = replay.of("hello")
    check(len(hellos) == 1 and hellos[0]["run_id"] == series[k]["run_id"] and hellos[0]["file"] == series[k]["file"]
          and hellos[0]["plot"]["y"] == "stress", f"series {k}'s replay greets with its run: {hellos}")
    for n in (1, 2, 3):
        pts = [e for e in replay.of("points") if e["specimen"] == n]
        xs = [x for e in pts for x in e["x"]]
        ys = [y for e in pts for y in e["y"]]
        check(0 < len(xs) <= 2000, f"series {k} specimen {n} replayed: {len(xs)} points")
        check(unmatched(xs, ys, curves[k][n]) == 0, f"series {k} specimen {n} replayed: a point not of its file")
        fx, fy = curves[k][n][0], curves[k][n][1]
        check(len(xs) > 0 and np.isclose(xs[-1], fx[-1], rtol=1e-6) and np.isclose(ys[-1], fy[-1], rtol=1e-6),
              f"series {k} specimen {n} replayed: its last sample is the last point")
        check(len(xs) > 0 and np.isclose(max(ys), fy.max(), rtol=1e-6),
              f"series {k} specimen {n} replayed: the peak stress is drawn ({max(ys) if ys else None}, {fy.max()})")
    kinds = {(e["specimen"], e["kind"]) for e in replay.of("event")}
    check({(n, "specimen_start") for n in (1, 2, 3)} <= kinds and ((2, "stop") in kinds) == (k == "B"),
          f"series {k}'s replay: its run file's events {sorted(kinds)}")
    states = replay.of("state")
    check(states and states[-1]["state"] == "finished" and states[-1]["outcome"] == "completed",
          f"series {k}'s replay: the final state {states}")
    end = replay.of("end")
    check(len(end) == 1 and end[0]["outcome"] == "completed", f"series {k}'s replay ends: {end}")
    check(rita.call("POST", f"/api/v1/series/{sid[k]}/start")[0] == 403, "a reviewer's POST after the restart")
    st, _, got = tab1.call("POST", f"/api/v1/series/{sid[k]}/start")
    check(st == 409, f"a command to an ended series: {st} {got}")

# The reviewer's page of the ended series A after the restart: every specimen's curve, the end.
driver.get(f"{base}/series/{sid['A']}")
browser.wait_heading(f"Series {sid['A']} on frame1", "the reviewer's page of the ended series")
try:
    PageWait(driver, CEILING, poll_frequency=0.05).until(lambda d: attr("#run-state", "data-state") == "ended")
except TimeoutException:
    fail(f"the ended series' page: state {attr('#run-state', 'data-state')!r}")
total = int(attr("#plot", "data-points-total") or 0)
want = sum(len([x for e in streams["A"].of("points") if e["specimen"] == n for x in e["x"]]) for n in (1, 2, 3))
check(total > 0 and driver.find_elements(By.CSS_SELECTOR, "#plot canvas"),
      f"the ended series' page draws its curves ({total} points; {want} live)")
legend = driver.find_element(By.ID, "plot").text
check(all(f"specimen {n}" in legend for n in (1, 2, 3)), f"every specimen's curve on the page: {legend!r}")
check("completed" in driver.find_element(By.ID, "run-state").text, "the page shows the final outcome")
log = driver.find_element(By.ID, "event-log").text
check("Specimen 2: specimen_start" in log and "Tessa Tech" in log, f"the ended series' event log from its file: {log!r}")
logs = browser.console_errors()
check(not logs, f"errors in the browser's console: {logs}")

browser.quit()
check(server.stop() == 0, "polydaq serve's exit status after SIGTERM (after the replays)")
if failures:
    print(f"{len(failures)} failure(s); data left in {data}", file=sys.stderr)
    sys.exit(1)
shutil.rmtree(data)
print("station_pair: ok", file=sys.stderr)
