#!/usr/bin/python3
"""station_record.py — a monitoring run (`method: record`, the simulated climate chamber) driven over
its control socket, for station_record_test.sh (docs/STATION.md "A recording"). The run is started as
the lab server starts it (a new session, output to a log). Checks: the hello says the method, its
channels with units and the plot's axes (time in s from `t0`, the first channel in its unit); the
state is running/recording from the start, no dimensions are asked; dims, caliper, start, return and
invalid are refused with the reason, the state unchanged; a note is recorded with the person; the
points grow while it records; a second client gets the series so far; `stop` ends the recording
(end completed, the file closed); then h5py: every point is a sample of the file (x = time since t0
in s, y = the temperature), the stop and the note are the file's events with the person, the outcome
names who stopped it. With `abort` as the last argument the recording is aborted instead (end
aborted, the file's outcome interrupted, "aborted by").
usage: station_record.py POLYDAQ CONFIG OUTDIR SOCKET stop|abort"""
import os, sys, time

import h5py
import numpy as np
from station_client import Client, check, failures, start_run

cli, config, outdir, sock, how = sys.argv[1:6]


run, log = start_run(cli, config, outdir, sock)

a = Client(sock, "A")
hello = a.read()
check(hello["type"] == "hello" and hello["method"] == "record" and hello["specimens"] == 1
      and hello["instrument"] == "chamber2" and os.path.isabs(hello["file"]), "hello: %r" % hello)
check(hello["plot"] == {"x": "time", "x_unit": "s", "y": "temperature", "y_unit": "degC"}, "plot %r" % hello.get("plot"))
check({"name": "temperature", "unit": "degC"} in hello["channels"] and {"name": "humidity", "unit": "%RH"}
      in hello["channels"], "channels with units: %r" % hello["channels"])
check(isinstance(hello.get("t0"), int) and abs(hello["t0"] / 1e9 - time.time()) < 120, "t0: %r" % hello.get("t0"))
t0 = hello["t0"]
st = a.read()
check(st["type"] == "state" and st["state"] == "running" and st["machine"] == "recording" and st["specimen"] == 1,
      "state: %r" % st)

# ---- what a recording does not take ---------------------------------------------------------------
refusals = [
    (dict(cmd="dims", specimen=1, values={"width": 10.0}), "width"),  # not even a known field
    (dict(cmd="start"), "nothing to start"),
    (dict(cmd="return"), "no crosshead"),
    (dict(cmd="invalid", specimen=1, reason="door open"), "no specimen to mark invalid"),
    (dict(cmd="note", specimen=2, text="x"), "not in the series of 1"),
]
for i, (cmd, why) in enumerate(refusals, start=10):
    a.send(by="anna", cmd_id=i, **cmd)
    r = a.reply(i)
    check(r["type"] == "error" and why in r["message"], "%s refused (%s): %r" % (cmd["cmd"], why, r))
a.send(cmd="caliper", specimen=1, field="width", by="anna", cmd_id=20)
r = a.reply(20)
check(r["type"] == "error", "caliper refused: %r" % r)
a.send(cmd="note", specimen=1, text="door opened for the samples", by="anna", cmd_id=21)
check(a.reply(21)["type"] == "ack", "the note is taken")
ev = a.until(lambda e: e["type"] == "event" and e["kind"] == "note", "the note event")
check(ev["by"] == "anna" and ev["text"] == "door opened for the samples", "note event %r" % ev)

# ---- points grow while it records ----------------------------------------------------------------
def count():
    return sum(len(e["x"]) for e in a.seen if e["type"] == "points")


a.until(lambda e: e["type"] == "points", "points")
first = count()
end = time.monotonic() + 2.0
while time.monotonic() < end:
    a.read()
check(count() > first, "the points grow: %d then %d" % (first, count()))
check(not any(e["type"] in ("need_dims", "dims") for e in a.seen), "no dimensions asked")
check(all(e["specimen"] == 1 for e in a.seen if e["type"] == "points"), "one curve")
values = [e for e in a.seen if e["type"] == "values"]
check(values and "temperature" in values[-1]["values"] and "humidity" in values[-1]["values"], "values events")

# a client that connects now gets the series so far
b = Client(sock, "B")
check(b.read()["type"] == "hello" and b.read()["state"] == "running", "B: hello, state")
late = b.until(lambda e: e["type"] == "points", "B's points so far")
check(len(late["x"]) >= first, "B gets the points so far at once (%d)" % len(late["x"]))

# ---- the end -------------------------------------------------------------------------------------
a.send(cmd=how, by="bert", cmd_id=30)
check(a.reply(30)["type"] == "ack", how + " taken")
ev = a.until(lambda e: e["type"] == "event" and e["kind"] == how, "the %s event" % how)
check(ev["by"] == "bert", "%s by bert: %r" % (how, ev))
want = "completed" if how == "stop" else "aborted"
done = [e for e in a.seen if e["type"] == "state" and e["state"] == "done"]
check(len(done) == 1 and done[0]["machine"] == ("stopped" if how == "stop" else "aborted")
      and done[0]["outcome"] == want, "the recording is done at once: %r" % done)
fin = a.until(lambda e: e["type"] == "state" and e["state"] == "finished", "finished")
check(fin["outcome"] == want, "finished %r" % fin)
endev = a.until(lambda e: e["type"] == "end", "end")
check(endev["outcome"] == want and endev["file"] == hello["file"], "end %r" % endev)
check(a.read() is None, "the run closes the connection after the end")
rc = run.wait(timeout=30)
check(rc == (0 if how == "stop" else 130), "exit status %d" % rc)
check(not os.path.exists(sock), "the run removed its socket")

# ---- every point a sample of the file ------------------------------------------------------------
xs = np.array([x for e in a.seen if e["type"] == "points" for x in e["x"]])
ys = np.array([y for e in a.seen if e["type"] == "points" for y in e["y"]])
with h5py.File(hello["file"], "r") as f:
    g = f["specimen_01"]
    t = np.asarray(g["chamber2/time"][()], dtype=np.int64)
    temp = np.asarray(g["chamber2/temperature"][()], dtype=float)
    fx = (t - t0) / 1e9
    missing = sum(1 for x, y in zip(xs, ys) if not np.any(np.isclose(fx, x, rtol=0, atol=1e-6) & (temp == y)))
    check(len(xs) > 3 and missing == 0, "%d of %d points are not samples of the file" % (missing, len(xs)))
    check(np.all(np.diff(xs) > 0), "the points in time order, each once")
    evs = [(e["kind"].decode(), e["text"].decode()) for e in g["events"][()]]
    check(("note", "door opened for the samples (by anna)") in evs, "the note in the file: %r" % evs)
    done = "recording stopped by bert" if how == "stop" else "aborted by bert"
    check((how, done) in evs, "the %s in the file: %r" % (how, evs))
    attr = lambda k: f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else f.attrs[k]
    check(int(f.attrs["start_time_ns"]) == t0, "t0 is the file's start_time_ns: %r %r" % (t0, f.attrs["start_time_ns"]))
    check(attr("operator") == "lab admin", "operator %r" % attr("operator"))
    check(attr("outcome") == ("completed" if how == "stop" else "interrupted"), "outcome %r" % attr("outcome"))
    check(done in attr("outcome_reason"), "outcome_reason %r" % attr("outcome_reason"))
    check(f.attrs["closed_cleanly"] == 1 if "closed_cleanly" in f.attrs else True, "closed cleanly")
if failures:
    sys.exit(1)
print(hello["file"])
