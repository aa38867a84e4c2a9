"""station_web.py — the test station in a real browser (headless Chromium, Selenium) against
`polydaq serve --lab config/station-demo.yaml`, whose series run as real `polydaq run --control`
processes on the simulated load frame and caliper: a technician starts a 3-specimen ISO 527 series
from a request's items on /stations, enters each specimen's dimensions on the live page (specimen
1's width from the simulated caliper), starts each specimen (the third with the keyboard only) and watches the curve grow (the plot's
point count read twice while the specimen runs), marks specimen 2 invalid with a reason; the run
file then holds each specimen's own dimensions and the mark with the technician's name, and
`polydaq certify` excludes specimen 2 with the reason and computes the others' strength from their
own cross-sections (checked with numpy). A reviewer's page of a second series shows the curve and
no controls, the reviewer's POSTs are 403; a second start on the busy instrument is 409, and of two
starts at the same moment on the free one exactly one wins (the other 409), and a start while a run
the server does not know of holds the frame is refused by the run's own lock (409, its message); the
server restarts during that series' specimen, reconnects to the run (which went on) and the
reviewer's page, reconnected by itself, shows the technician's abort.
With --screenshots DIR the pages are written there as PNG."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import h5py
import numpy as np

from server_lib import (CLI, PASSWORDS, REVIEW, SOURCE, Client, Server, check, fail, failures, make_lab,
                        new_request)

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from web_lib import Browser, PageWait

ap = argparse.ArgumentParser()
ap.add_argument("--screenshots", help="write PNGs of the station pages to this folder")
args = ap.parse_args()

data, member_a, _ = make_lab()
lab = os.path.join(SOURCE, "config", "station-demo.yaml")
server = Server(data, "--lab", lab)
base = f"http://127.0.0.1:{server.port}"
alice = Client(server, "alice", PASSWORDS["alice"])
rita = Client(server, "rita", PASSWORDS["rita"])
tessa = Client(server, "tessa", PASSWORDS["tessa"])
req = new_request(alice, "PP-H station grade")
assert rita.call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200
st, _, body = tessa.call("POST", f"/api/v1/requests/{req}/items", {
    "count": 3, "description": "ISO 527-2 type 1A bar", "condition": "as expected", "conforming": True,
    "storage": "rack 1"})
assert st == 201, (st, body)
item_ids = [i["item_id"] for i in body["items"]]

browser = Browser(base, args.screenshots, on_skip=lambda: (server.stop(), shutil.rmtree(data)))
driver = browser.driver
slow = PageWait(driver, 90, poll_frequency=0.05)  # a ceiling for a loaded machine, not a timing check


def cleanup():
    """A series still running after a failure is aborted (its run ends itself), then the server stops."""
    browser.quit()
    st, _, body = tessa.call("GET", "/api/v1/series")
    for s in body.get("series", []) if st == 200 else []:
        if s["live"]:
            tessa.call("POST", f"/api/v1/series/{s['id']}/abort")
    server.stop()


def attr(css, name):
    els = driver.find_elements(By.CSS_SELECTOR, css)
    return els[0].get_attribute(name) if els else None


def wait_state(state, what, timeout=None):
    try:
        (slow if timeout is None else PageWait(driver, timeout)).until(
            lambda d: attr("#run-state", "data-state") == state)
        return True
    except TimeoutException:
        fail(f"{what}: the run's state is {attr('#run-state', 'data-state')!r} "
             f"({driver.find_element(By.ID, 'run-state').text!r}), expected {state!r}; "
             f"alert {driver.find_element(By.ID, 'alert').text!r}")
        return False


def wait_dims_form(specimen):
    slow.until(lambda d: d.find_elements(By.ID, "dims-form") and
               f"specimen {specimen}" in d.find_element(By.ID, "dims-h").text and
               d.find_element(By.ID, "dims").is_displayed())


def type_into(name, value):
    el = driver.find_element(By.CSS_SELECTOR, f"#dims-form input[name={name}]")
    el.clear()
    el.send_keys(value)


def run_specimen(k, keyboard=False):
    """Start specimen k (ready), watch the curve grow while it runs, wait until it is done. With the
    keyboard: Tab from the dimension form's button reaches Start, Space presses it."""
    if keyboard:
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused = driver.switch_to.active_element.get_attribute("id")
        check(focused == "btn-start", f"Tab after the dimensions goes to Start, not {focused!r}")
        driver.switch_to.active_element.send_keys(Keys.SPACE)
    else:
        driver.find_element(By.ID, "btn-start").click()
    if not wait_state("running", f"specimen {k} started"):
        return
    # The plot's point count of the running specimen, read twice while it runs: it grows.
    slow.until(lambda d: int(attr("#plot", "data-points") or 0) > 0 and attr("#plot", "data-specimen") == str(k))
    first = int(attr("#plot", "data-points"))
    try:
        PageWait(driver, 30, poll_frequency=0.05).until(lambda d: int(attr("#plot", "data-points")) > first)
        second = int(attr("#plot", "data-points"))
        still = attr("#run-state", "data-state")
        check(second > first and still == "running",
              f"specimen {k}: the curve grew from {first} to {second} points while running ({still})")
    except TimeoutException:
        fail(f"specimen {k}: the curve did not grow past {first} points")
    if k == 1:
        driver.execute_script("document.getElementById('live-h').scrollIntoView()")
        browser.shot("station-live")
    slow.until(lambda d: attr("#run-state", "data-state") in ("done", "returning", "waiting_dims", "ended"))


# ---- The technician starts the series on /stations -------------------------------------------------
browser.login("tessa", PASSWORDS["tessa"])
driver.get(base + "/stations")
browser.wait_heading("Test stations", "stations page")
browser.wait_text("main table", "frame1", "the stations table")
check("caliper1" not in driver.find_element(By.CSS_SELECTOR, "main table").text, "the caliper is no station")
Select(driver.find_element(By.CSS_SELECTOR, "#start-form select[name=request_id]")).select_by_value(str(req))
slow.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#items input[name=item]")) == 3)
Select(driver.find_element(By.CSS_SELECTOR, "#start-form select[name=instrument]")).select_by_value("frame1")
browser.shot("station-start")
driver.find_element(By.CSS_SELECTOR, "#start-form button[type=submit]").click()
slow.until(lambda d: "/series/" in d.current_url)
series = int(driver.current_url.rsplit("/", 1)[1])
browser.wait_heading(f"Series {series} on frame1", "the live page")

# A second start on the busy instrument: 409, naming the series that has it.
st, _, body = tessa.call("POST", "/api/v1/series", {"request_id": req, "item_ids": item_ids[:1], "method": "iso527",
                                                   "instrument": "frame1"})
check(st == 409 and f"series {series}" in body["error"]["message"], f"second start on frame1: {st} {body}")

# ---- Specimen 1: width from the caliper, thickness typed ------------------------------------------
dims = {1: ("caliper", "4.02"), 2: ("10.05", "4.03"), 3: ("9.98", "3.99")}
for k in (1, 2, 3):
    wait_dims_form(k)
    width, thickness = dims[k]
    if width == "caliper":
        driver.find_element(By.CSS_SELECTOR, "#dims-form button.caliper[data-field=width]").click()
        slow.until(lambda d: d.find_element(By.CSS_SELECTOR, "#dims-form input[name=width]").get_attribute(
            "data-source") == "caliper")
    else:
        if k == 2:  # out of the method's range first: the run's refusal is shown, nothing is stored
            type_into("width", "2000")
            type_into("thickness", thickness)
            driver.find_element(By.CSS_SELECTOR, "#dims-form button[type=submit]").click()
            browser.wait_text("#alert", "2000", "the run's refusal of a width out of range")
            alert = driver.find_element(By.ID, "alert").text
            check("width" in alert.lower(), f"the refusal names the field: {alert!r}")
            check(browser.active("width") and attr("#dims-form input[name=width]", "aria-invalid") == "true",
                  "the refused field is marked and has the focus")
            check(attr("#run-state", "data-state") == "waiting_dims", "a refused width leaves the specimen waiting")
        type_into("width", width)
    type_into("thickness", thickness)
    driver.find_element(By.CSS_SELECTOR, "#dims-form button[type=submit]").click()
    if not wait_state("ready", f"specimen {k}'s dimensions accepted"):
        break
    run_specimen(k, keyboard=(k == 3))
    if k == 1:  # a note on the specimen
        form = driver.find_element(By.ID, "note-form")
        form.find_element(By.NAME, "specimen").send_keys("1")
        form.find_element(By.NAME, "text").send_keys("grips re-tightened before the start")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        browser.wait_text("#event-log", "note by Tessa Tech — grips re-tightened", "the note in the event log")
    if k == 2:  # marked invalid once it is done, with the reason
        form = driver.find_element(By.ID, "invalid-form")
        form.find_element(By.NAME, "specimen").send_keys("2")
        form.find_element(By.NAME, "reason").send_keys("broke outside the gauge length")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        browser.wait_text("#status", "Specimen 2 marked invalid", "the invalid mark")
wait_state("ended", "the series' end")
browser.wait_text("#run-state", "completed", "the series completed")
legend = driver.find_element(By.ID, "plot").text
check(all(f"specimen {k}" in legend for k in (1, 2, 3)), f"the earlier specimens overlaid: legend {legend!r}")
browser.wait_text("#event-log", "invalid by Tessa Tech", "the invalid mark in the event log")
driver.execute_script("document.getElementById('live-h').scrollIntoView()")
browser.shot("station-finished")

driver.refresh()  # the server's history of the series, as the page shows it after a reload
browser.wait_text("main", "refused dims", "the history on the page")
hist = driver.find_element(By.CSS_SELECTOR, "[aria-label=History]").text
check("start series" in hist and "invalid" in hist and "Tessa Tech" in hist, f"the history table: {hist!r}")

# ---- The run file and the certificate ------------------------------------------------------------------
st, _, s = tessa.call("GET", f"/api/v1/series/{series}")
check(s["state"] == "finished" and s["outcome"] == "completed" and s["file"], f"series record {s}")
history = [(e["action"], e["by"]) for e in s["history"]]
check(("invalid", "tessa") in history and ("start", "tessa") in history and ("caliper", "tessa") in history
      and ("note", "tessa") in history,
      f"the series' history: {history}")
run = s["file"]
r = subprocess.run([CLI, "certify", run, "--spec", os.path.join(SOURCE, "config", "specs", "pp-demo.yaml"),
                    "-o", os.path.join(data, "certs")], capture_output=True, text=True)
check(r.returncode in (0, 1), f"certify: {r.returncode} {r.stderr}")
cert = json.load(open(r.stdout.splitlines()[0]))
f = h5py.File(run, "r")
spec = {c["id"][-3:]: c for c in cert["specimens"]}
for k in (1, 2, 3):
    g = f["specimen_%02d" % k]
    b, h = float(g["sample/width"][()]), float(g["sample/thickness"][()])
    want_b = 10.0 if k == 1 else float(dims[k][0])
    check(abs(b - want_b) < 1e-9 and abs(h - float(dims[k][1])) < 1e-9, f"specimen {k}: b={b}, h={h} in the file")
    sp = spec["S%02d" % k]
    if k == 2:
        check(g["status"][()].decode() == "invalid: broke outside the gauge length", f"specimen 2 status {g['status'][()]}")
        check(g["sample/invalid_by"][()].decode() == "Tessa Tech", "specimen 2 marked by the technician")
        check("broke outside the gauge length" in sp.get("excluded_reason", ""), f"specimen 2 excluded: {sp}")
        check("results" not in sp, "specimen 2 has no results")
        continue
    if k == 1:
        ev = [(e["kind"].decode(), e["text"].decode()) for e in g["events"][()]]
        check(any(kd == "note" and "grips re-tightened" in t and "Tessa Tech" in t for kd, t in ev),
              f"specimen 1's note in the file with the technician: {ev}")
    check(g["sample/width_source"][()].decode().startswith("caliper") == (k == 1),
          f"specimen {k}: width source {g['sample/width_source'][()]}")
    force = np.asarray(g["frame1/force"][()], dtype=float)
    sigma = np.nanmax(force) / (b * h)
    got = sp["results"]["tensile_strength"]["value"]
    check(abs(got - sigma) <= 1e-9 * sigma, f"specimen {k}: σm {got}, numpy {sigma} with its own b·h")
check(cert["series"]["tensile_strength"]["n"] == 2, "the series' statistics take the 2 valid specimens")
f.close()

# ---- A reviewer watches a second series: the curve, no controls --------------------------------------
browser.logout()
# Two technicians press start on the free frame at the same moment: one series, the other 409.
tom = Client(server, "tessa", PASSWORDS["tessa"])  # a second session (another browser)
answers = []
start = {"request_id": req, "item_ids": item_ids[:1], "method": "iso527", "instrument": "frame1", "specimens": 1}
racers = [threading.Thread(target=lambda c=c: answers.append(c.call("POST", "/api/v1/series", start)))
          for c in (tessa, tom)]
for t in racers:
    t.start()
for t in racers:
    t.join()
codes = sorted(a[0] for a in answers)
check(codes == [201, 409], f"two starts at once on frame1: {codes} {[a[2] for a in answers]}")
s2 = next((a[2] for a in answers if a[0] == 201), None)
if s2 is None:
    cleanup()
    sys.exit(1)
browser.login("rita", PASSWORDS["rita"])
driver.get(f"{base}/series/{s2['id']}")
browser.wait_heading(f"Series {s2['id']} on frame1", "the reviewer's live page")
check(not driver.find_elements(By.ID, "controls") and not driver.find_elements(By.ID, "dims-form")
      and driver.find_elements(By.ID, "viewer-only"), "the reviewer's page has no controls")
st, _, _ = rita.call("POST", f"/api/v1/series/{s2['id']}/start")
check(st == 403, f"a reviewer's start: {st}")
sid = s2["id"]
for cmd, body in (("dims", {"specimen": 1, "values": {"width": 10.0, "thickness": 4.0}}), ("start", None)):
    st, _, got = tessa.call("POST", f"/api/v1/series/{sid}/{cmd}", body)
    check(st == 200, f"{cmd} for the reviewer's series: {st} {got}")
try:
    slow.until(lambda d: int(attr("#plot", "data-points") or 0) > 0)
    first = int(attr("#plot", "data-points"))
    PageWait(driver, 30, poll_frequency=0.05).until(lambda d: int(attr("#plot", "data-points")) > first)
except TimeoutException:
    fail(f"the reviewer's curve did not grow ({attr('#plot', 'data-points')} points)")
check(driver.find_elements(By.CSS_SELECTOR, "#plot canvas"), "the reviewer sees the plot")
driver.execute_script("document.getElementById('live-h').scrollIntoView()")
browser.shot("station-reviewer")
# ---- The server restarts during the specimen: the run goes on, the server reconnects to it ------------
server.stop()
st, _, s2 = None, None, None
server = Server(data, "--lab", lab, "--listen", f"127.0.0.1:{server.port}")  # the page's address stays
tessa = Client(server, "tessa", PASSWORDS["tessa"])
rita = Client(server, "rita", PASSWORDS["rita"])
st, _, s2 = tessa.call("GET", f"/api/v1/series/{sid}")
check(st == 200 and s2["live"] and s2["state"] == "running", f"after the restart the series is live again: {s2}")
st, _, stations = tessa.call("GET", "/api/v1/stations")
check(stations["stations"][0]["series_id"] == sid, f"frame1 is busy again after the restart: {stations}")
st, _, got = tessa.call("POST", f"/api/v1/series/{sid}/abort")
check(st == 200, f"abort after the restart: {st} {got}")
# The reviewer's page reconnected by itself (EventSource) and shows the end.
browser.wait_text("#run-state", "aborted", "the reviewer sees the abort after the restart")
try:
    PageWait(driver, 60, poll_frequency=0.2).until(
        lambda d: tessa.call("GET", f"/api/v1/series/{sid}")[2]["state"] == "finished")
except TimeoutException:
    fail("the aborted series was not recorded as finished")
st, _, s2 = tessa.call("GET", f"/api/v1/series/{sid}")
check(s2["outcome"] == "aborted", f"the second series' outcome: {s2['outcome']}")

# ---- A run the server does not know of holds the frame: the run's own lock refuses, 409 ------------------
other_sock = os.path.join(data, "other.sock")
other = subprocess.Popen([CLI, "run", os.path.join(data, "stations", f"series-{series}.yaml"), "-o",
                          os.path.join(data, "runs"), "--control", other_sock, "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(600):  # its socket is there once it holds its instruments' locks
    if os.path.exists(other_sock) or other.poll() is not None:
        break
    time.sleep(0.05)
st, _, body = tessa.call("POST", "/api/v1/series", start)
check(st == 409 and "in use by run" in body["error"]["message"], f"a start while a CLI run holds frame1: {st} {body}")
st, _, stations = tessa.call("GET", "/api/v1/stations")
check(stations["stations"][0]["state"] == "free", f"the refused start left frame1 free in the server: {stations}")
other.terminate()
other.wait(timeout=60)

# ---- A series that ends while no server runs: its state comes from the run file ---------------------------
st, _, s3 = tessa.call("POST", "/api/v1/series", start)
check(st == 201, f"third series: {st} {s3}")
sock3 = os.path.join(data, "stations", f"series-{s3['id']}.sock")
server.stop()
import socket  # noqa: E402 (only here: the test talks to the run itself, as any client may)
c = socket.socket(socket.AF_UNIX)
c.connect(sock3)
c.sendall(b'{"cmd":"abort","by":"Tessa Tech","cmd_id":1}\n')
for _ in range(1200):  # the run ends and removes its socket
    if not os.path.exists(sock3):
        break
    time.sleep(0.05)
c.close()
check(not os.path.exists(sock3), "the aborted run removed its socket")
server = Server(data, "--lab", lab)
tessa = Client(server, "tessa", PASSWORDS["tessa"])
st, _, s3 = tessa.call("GET", f"/api/v1/series/{s3['id']}")
check(s3["state"] == "finished" and not s3["live"] and s3["outcome"] == "interrupted",
      f"a series that ended while no server ran: state from its file: {s3}")
st, _, stations = tessa.call("GET", "/api/v1/stations")
check(stations["stations"][0]["state"] == "free", f"frame1 free after that: {stations}")

# (the API's refusals the test provoked are logged by the browser as failed loads: expected)
logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and not
        re.search(r"/api/v1/\S* - Failed to load resource: the server responded with a status of 4", e["message"])]
check(not logs, f"errors in the browser's console: {logs}")
cleanup()
if failures:
    print(f"{len(failures)} failure(s); data left in {data}", file=sys.stderr)
    sys.exit(1)
shutil.rmtree(data)
print("station_web: ok", file=sys.stderr)
