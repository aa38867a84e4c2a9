#!/usr/bin/python3
"""station_shore.py — an ISO 868 Shore series (config/shore.yaml's simulated durometer, with a
simulated caliper) driven over its control socket, for station_shore_test.sh (docs/STATION.md "A
Shore series"). Checks: the hello names the method, the durometer's channels with units and the
plot's axes (hardness over the dwell of each reading); each specimen asks for its thickness alone
in the method's range; a thickness out of range, a width and `return` are refused with the reason;
a thickness below ISO 868's 4 mm is taken with a warning; one thickness comes from the caliper;
start per specimen; a specimen marked invalid with a reason; a note; `stop` during the last
specimen ends it with the readings it has. Then h5py: every point is a reading of the file
(x = dwell, y = hardness), each specimen's thickness and its source, the invalid mark, the note and
the stop with the person. With `abort` as the last argument the first specimen is aborted instead
(end aborted, the file interrupted, the specimen invalid "aborted by"), after a wait for the
thickness longer than the config's no_data_timeout_s (the durometer must not be taken as lost).
usage: station_shore.py POLYDAQ CONFIG OUTDIR SOCKET full|abort"""
import os, sys, time

import h5py
import numpy as np
from station_client import Client, check, failures, start_run

cli, config, outdir, sock, how = sys.argv[1:6]


run, log = start_run(cli, config, outdir, sock)

a = Client(sock, "A")
hello = a.read()
check(hello["type"] == "hello" and hello["method"] == "iso868" and hello["specimens"] == 3
      and hello["instrument"] == "durometer1" and os.path.isabs(hello["file"]), "hello: %r" % hello)
check(hello["plot"] == {"x": "dwell", "x_unit": "s", "y": "hardness", "y_unit": "1"}, "plot %r" % hello.get("plot"))
check({"name": "hardness", "unit": "1"} in hello["channels"] and {"name": "dwell", "unit": "s"} in hello["channels"],
      "channels with units: %r" % hello["channels"])
need = a.until(lambda e: e["type"] == "need_dims", "need_dims")
check(need["specimen"] == 1 and len(need["fields"]) == 1, "need_dims: %r" % need)
f0 = need["fields"][0]
check(f0["name"] == "thickness" and f0["unit"] == "mm" and f0["required"] and f0["min"] == 0.1 and f0["max"] == 100
      and f0["value"] == 6.0, "the thickness field, its range and default: %r" % f0)

def wait(pred, what):
    """The first event so far that satisfies pred, or the next one read that does."""
    seen = [e for e in a.seen if pred(e)]
    return seen[0] if seen else a.until(pred, what)


n_id = [100]


def cmd(**c):
    n_id[0] += 1
    a.send(by=c.pop("by", "anna"), cmd_id=n_id[0], **c)
    return a.reply(n_id[0])


def refused(why, **c):
    r = cmd(**c)
    check(r["type"] == "error" and why in r["message"], "%s refused (%s): %r" % (c["cmd"], why, r))


refused("thickness", cmd="dims", specimen=1, values={"thickness": 0.05})
refused("thickness", cmd="dims", specimen=1, values={"thickness": 150})
refused("width", cmd="dims", specimen=1, values={"width": 10.0})
refused("no crosshead", cmd="return")
refused("dimensions", cmd="start")  # nothing measured yet
state = [e for e in a.seen if e["type"] == "state"][-1]
check(state["state"] == "waiting_dims", "still waiting for the thickness: %r" % state)


def run_specimen(k, thickness=None, caliper=False):
    wait(lambda e: e["type"] == "need_dims" and e["specimen"] == k, "need_dims %d" % k)
    if caliper:
        r = cmd(cmd="caliper", specimen=k, field="thickness")
    else:
        r = cmd(cmd="dims", specimen=k, values={"thickness": thickness})
    check(r["type"] == "ack", "specimen %d: thickness taken: %r" % (k, r))
    wait(lambda e: e["type"] == "state" and e["state"] == "ready" and e["specimen"] == k, "ready %d" % k)
    check(cmd(cmd="start")["type"] == "ack", "start %d" % k)
    wait(lambda e: e["type"] == "state" and e["state"] == "running" and e["specimen"] == k, "running %d" % k)


def points(k):
    return [(x, y) for e in a.seen if e["type"] == "points" and e["specimen"] == k for x, y in zip(e["x"], e["y"])]


if how == "full":
    run_specimen(1, thickness=3.5)  # below ISO 868's 4 mm: taken, with a warning
    warn = wait(lambda e: e["type"] == "event" and e["kind"] == "warning", "the thickness warning")
    check("below the 4 mm" in warn["text"] and warn["specimen"] == 1, "warning %r" % warn)
    done = wait(lambda e: e["type"] == "state" and e["state"] == "done" and e["specimen"] == 1, "done 1")
    check(done["outcome"] == "completed", "specimen 1 completed: %r" % done)
    check(len(points(1)) == 5, "specimen 1: one point per reading: %r" % points(1))
    run_specimen(2, caliper=True)
    dims2 = [e for e in a.seen if e["type"] == "dims" and e["specimen"] == 2]
    check(dims2 and dims2[-1]["source"] == {"thickness": "caliper"} and dims2[-1]["values"]["thickness"] == 10.0,
          "specimen 2's thickness from the caliper: %r" % dims2)
    wait(lambda e: e["type"] == "state" and e["state"] == "done" and e["specimen"] == 2, "done 2")
    check(cmd(cmd="invalid", specimen=2, reason="air bubble under the presser foot", by="bert")["type"] == "ack",
          "invalid 2")
    check(cmd(cmd="note", specimen=2, text="plates restacked")["type"] == "ack", "note 2")
    run_specimen(3, thickness=6.2)
    wait(lambda e: e["type"] == "points" and e["specimen"] == 3, "a first reading of specimen 3")
    check(cmd(cmd="stop", by="bert")["type"] == "ack", "stop 3")
    ev = wait(lambda e: e["type"] == "event" and e["kind"] == "stop", "the stop event")
    check(ev["by"] == "bert" and "evaluated with them" in ev["text"], "stop event %r" % ev)
    want, rc_want = "completed", 0
else:
    # Regression: the durometer reports a reading only when it has one; waiting longer than the
    # config's no_data_timeout_s (1 s here) for the thickness failed the instrument ("disconnected").
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        try:
            a.read(timeout=max(0.05, end - time.monotonic()))
        except TimeoutError:  # nothing happens while it waits: what this checks
            pass
    run_specimen(1, thickness=6.0)
    wait(lambda e: e["type"] == "points" and e["specimen"] == 1, "a first reading")
    check(cmd(cmd="abort", by="bert")["type"] == "ack", "abort")
    ev = wait(lambda e: e["type"] == "event" and e["kind"] == "abort", "the abort event")
    check(ev["by"] == "bert" and "presser foot lifted" in ev["text"], "abort event %r" % ev)
    want, rc_want = "aborted", 130

check(not any(e["type"] == "state" and e["machine"] == "disconnected" for e in a.seen),
      "the durometer never lost: %r" % [e for e in a.seen if e["type"] == "state" and e["machine"] == "disconnected"])
fin = wait(lambda e: e["type"] == "state" and e["state"] == "finished", "finished")
check(fin["outcome"] == want, "finished %r" % fin)
endev = wait(lambda e: e["type"] == "end", "end")
check(endev["outcome"] == want and endev["file"] == hello["file"], "end %r" % endev)
check(a.read() is None, "the run closes the connection after the end")
rc = run.wait(timeout=30)
check(rc == rc_want, "exit status %d" % rc)

# ---- the file -----------------------------------------------------------------------------------
with h5py.File(hello["file"], "r") as f:
    s = lambda v: v.decode() if isinstance(v, bytes) else v
    attr = lambda g, k: s(g.attrs[k])
    sv = lambda g, k: s(g["sample"][k][()]) if k in g["sample"] else None  # the schema's sample group
    n_spec = 3 if how == "full" else 1
    for k in range(1, n_spec + 1):
        g = f["specimen_%02d" % k]
        hard = np.asarray(g["durometer1/hardness"][()], dtype=float)
        dwell = np.asarray(g["durometer1/dwell"][()], dtype=float)
        pts = points(k)
        missing = sum(1 for x, y in pts if not np.any((dwell == x) & (hard == y)))
        check(len(pts) >= 1 and missing == 0 and len(pts) == len(hard),
              "specimen %d: %d points, %d not readings of the file (%d readings)" % (k, len(pts), missing, len(hard)))
    if how == "full":
        g1, g2, g3 = f["specimen_01"], f["specimen_02"], f["specimen_03"]
        check(float(sv(g1, "thickness")) == 3.5 and sv(g1, "thickness_source").startswith("typed")
              and "anna" in sv(g1, "thickness_source"), "specimen 1: %r %r" % (sv(g1, "thickness"), sv(g1, "thickness_source")))
        check(float(sv(g2, "thickness")) == 10.0 and sv(g2, "thickness_source").startswith("caliper caliper1"),
              "specimen 2: %r %r" % (sv(g2, "thickness"), sv(g2, "thickness_source")))
        check(float(sv(g3, "thickness")) == 6.2, "specimen 3: %r" % sv(g3, "thickness"))
        check(sv(g2, "invalid_reason") == "air bubble under the presser foot" and sv(g2, "invalid_by") == "bert",
              "specimen 2 invalid: %r" % list(g2["sample"]))
        check(sv(g1, "invalid_reason") is None and sv(g3, "invalid_reason") is None, "only specimen 2 invalid")
        check(len(g1["durometer1/hardness"]) == 5 and len(g2["durometer1/hardness"]) == 5, "5 readings each")
        check(1 <= len(g3["durometer1/hardness"]) < 5, "specimen 3 stopped early: %d" % len(g3["durometer1/hardness"]))
        ev2 = [(s(e["kind"]), s(e["text"])) for e in g2["events"][()]]
        check(("note", "plates restacked (by anna)") in ev2, "the note in the file: %r" % ev2)
        ev3 = [(s(e["kind"]), s(e["text"])) for e in g3["events"][()]]
        check(any(k == "stop" and "by bert" in t for k, t in ev3), "the stop in the file: %r" % ev3)
        check(any(k == "specimen_start" and t == "start by anna" for k, t in ev3), "the start in the file: %r" % ev3)
        ev1 = [(s(e["kind"]), s(e["text"])) for e in g1["events"][()]]
        check(any(k == "warning" and "below the 4 mm" in t for k, t in ev1), "the warning in the file: %r" % ev1)
        check(attr(f, "outcome") == "completed", "outcome %r" % attr(f, "outcome"))
    else:
        g1 = f["specimen_01"]
        check(sv(g1, "invalid_reason") == "aborted by bert", "aborted specimen invalid: %r" % list(g1["sample"]))
        check(attr(f, "outcome") == "interrupted" and "aborted by bert" in attr(f, "outcome_reason"),
              "outcome %r %r" % (attr(f, "outcome"), attr(f, "outcome_reason")))
    check(attr(f, "operator") == "lab admin", "operator %r" % attr(f, "operator"))
if failures:
    sys.exit(1)
print(hello["file"])
