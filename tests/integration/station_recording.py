"""station_recording.py — a monitoring run from the station, against `polydaq serve --lab
config/station-demo.yaml` (its simulated climate chamber, chamber1) over plain HTTP, for
station_recording_test.sh (docs/STATION.md "A recording"). A technician starts a series with method
record on the chamber (201; /stations names it a recording station, busy then); an SSE client reads
its stream: the hello's plot is time [s] / temperature [degC], no dimensions are asked, the points
grow while it records; a second start on the busy chamber is 409; a start command is refused by the
run (422); the stop ends it (completed). Then h5py: every streamed point is a sample of the run file
(x = time since the file's start_time_ns in s, y = the temperature). After a server restart the
ended series' stream replays the file: the same time-temperature curve, each point a sample, the
last sample last, and the end."""
import sys

import h5py
import numpy as np
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By

from server_lib import PASSWORDS, Client, Server, check, fail, failures
from web_lib import Browser, PageWait
from sse_lib import CEILING, STATION_LAB, Stream, start_series, station_lab, wait_for

data, server, people, req, items = station_lab("PP-H ageing lot", 2, "plaques for heat ageing", "rack 2")
alice, rita, tessa = people["alice"], people["rita"], people["tessa"]

st, _, stations = tessa.call("GET", "/api/v1/stations")
chamber = [s for s in stations["stations"] if s["name"] == "chamber1"]
check(chamber and chamber[0]["method"] == "record" and chamber[0]["caliper"] is None and chamber[0]["state"] == "free",
      f"chamber1 is a free recording station: {stations}")

sid, stream, hello = start_series(server, tessa, req, items, "record", "chamber1")
check(hello["method"] == "record" and hello["instrument"] == "chamber1" and
      hello["plot"] == {"x": "time", "x_unit": "s", "y": "temperature", "y_unit": "degC"},
      f"the hello's axes: {hello}")
wait_for(lambda: stream.points(1) > 0, "the first points")
first = stream.points(1)
wait_for(lambda: stream.points(1) > first, "more points")
check(stream.points(1) > first, "the points grow while it records")

st, _, busy = tessa.call("POST", "/api/v1/series", {"request_id": req, "item_ids": items[:1], "method": "record",
                                                    "instrument": "chamber1"})
check(st == 409 and f"in use by series {sid}" in busy["error"]["message"], f"a second start on the busy chamber: {st} {busy}")
st, _, stations = tessa.call("GET", "/api/v1/stations")
check([s["series_id"] for s in stations["stations"] if s["name"] == "chamber1"] == [sid], f"chamber1 busy: {stations}")
st, _, got = tessa.call("POST", f"/api/v1/series/{sid}/start")
check(st == 422 and "nothing to start" in got["error"]["message"], f"start refused by the recording: {st} {got}")

# ---- the technician's page in headless Chromium: the axes from the hello, no dimension form, no start
browser = Browser(f"http://127.0.0.1:{server.port}", None, on_skip=server.stop)
driver = browser.driver
browser.login("tessa", PASSWORDS["tessa"])
driver.get(f"http://127.0.0.1:{server.port}/series/{sid}")
browser.wait_heading(f"Series {sid} on chamber1", "the recording's page")


def plot_attr(name):
    els = driver.find_elements(By.CSS_SELECTOR, "#plot")
    return els[0].get_attribute(name) if els else None


try:
    PageWait(driver, CEILING, poll_frequency=0.05).until(lambda d: int(plot_attr("data-points") or 0) > 0)
    shown = int(plot_attr("data-points"))
    PageWait(driver, CEILING, poll_frequency=0.05).until(lambda d: int(plot_attr("data-points")) > shown)
except TimeoutException:
    fail(f"the recording's curve did not grow on the page ({plot_attr('data-points')} points)")
# (uPlot draws the axes' labels on its canvas; the plot's accessible name carries the same words)
label = plot_attr("aria-label") or ""
check(label.startswith("temperature [°C] over time [s]"), f"the axes labelled from the hello: {label!r}")
check(driver.find_element(By.ID, "run-state").text.startswith("Recording: running"),
      f"the state says it records: {driver.find_element(By.ID, 'run-state').text!r}")
check(not [e for e in driver.find_elements(By.CSS_SELECTOR, "#dims, #dims-form") if e.is_displayed()],
      "no dimension form for a recording")
check(not driver.find_element(By.ID, "btn-start").is_displayed() and not driver.find_element(By.ID, "btn-return")
      .is_displayed() and not driver.find_element(By.ID, "invalid-form").is_displayed(),
      "no start, return or invalid mark for a recording")
check(driver.find_element(By.ID, "btn-stop").is_enabled() and driver.find_element(By.ID, "btn-abort").is_enabled(),
      "stop and abort enabled while it records")
check(not browser.console_errors(), f"no error in the browser's console: {browser.console_errors()}")
browser.quit()

st, _, got = tessa.call("POST", f"/api/v1/series/{sid}/note", {"specimen": 1, "text": "door closed"})
check(st == 200, f"a note: {st} {got}")
st, _, got = tessa.call("POST", f"/api/v1/series/{sid}/stop")
check(st == 200, f"stop: {st} {got}")
wait_for(lambda: stream.ended, "the stream's end")
check(not any(e["type"] in ("need_dims", "dims") for e in stream.events), "no dimensions asked")
end = stream.of("end")
check(len(end) == 1 and end[0]["outcome"] == "completed", f"the end: {end}")
wait_for(lambda: tessa.call("GET", f"/api/v1/series/{sid}")[2]["state"] == "finished", "the series finished")
rec = tessa.call("GET", f"/api/v1/series/{sid}")[2]
check(rec["outcome"] == "completed", f"recorded outcome: {rec['outcome']}")


def file_curve(path):
    with h5py.File(path, "r") as f:
        t0 = int(f.attrs["start_time_ns"])
        g = f["specimen_01/chamber1"]
        t = np.asarray(g["time"][()], dtype=np.int64)
        return (t - t0) / 1e9, np.asarray(g["temperature"][()], dtype=float), t0


fx, fy, t0 = file_curve(rec["file"])
check(hello.get("t0") == t0, f"the hello's t0 is the file's start_time_ns: {hello.get('t0')} {t0}")


def unmatched(xs, ys):
    return sum(1 for x, y in zip(xs, ys) if not np.any(np.isclose(fx, x, rtol=0, atol=1e-6) & (fy == y)))


xs = [x for e in stream.of("points") for x in e["x"]]
ys = [y for e in stream.of("points") for y in e["y"]]
check(len(xs) > 2 and unmatched(xs, ys) == 0, f"every live point a sample of the file ({len(xs)} points)")
other = unmatched([x + 0.05 for x in xs], ys) + unmatched(xs, [y + 0.01 for y in ys])
check(other == 2 * len(xs), "a point shifted in time or temperature is no sample (the check can fail)")

# ---- after a restart the ended series replays its file ------------------------------------------------
check(server.stop() == 0, "polydaq serve's exit status after SIGTERM")
server = Server(data, "--lab", STATION_LAB, "--listen", f"127.0.0.1:{server.port}")
tessa = Client(server, "tessa", PASSWORDS["tessa"])
replay = Stream(tessa, sid)
wait_for(lambda: replay.ended, "the replay's end")
h = replay.of("hello")
check(len(h) == 1 and h[0]["plot"] == hello["plot"] and h[0].get("t0") == t0, f"the replay's hello: {h}")
rx = [x for e in replay.of("points") for x in e["x"]]
ry = [y for e in replay.of("points") for y in e["y"]]
check(0 < len(rx) <= 2000 and unmatched(rx, ry) == 0, f"the replay's points are samples of the file ({len(rx)})")
check(rx and abs(rx[-1] - fx[-1]) < 1e-6 and ry[-1] == fy[-1], "the last sample is the last point")
check(any(e["kind"] == "stop" and "recording stopped by" in e["text"] for e in replay.of("event")),
      f"the replay's events: {replay.of('event')}")
check([e["outcome"] for e in replay.of("end")] == ["completed"], f"the replay's end: {replay.of('end')}")
check(server.stop() == 0, "polydaq serve's exit status at the end")
sys.exit(1 if failures else 0)
