#!/usr/bin/python3
"""station_control.py — a 3-specimen ISO 527 series on the simulated frame driven only over the
control socket, for station_control_test.sh. The run is started as the lab server starts it: by a
parent process, in a new session (setsid), output to a log. Two clients at once; bad commands each
refused with an error to the sender only, the state unchanged; a second run on the same instrument
refused at once; specimen 1 typed, specimen 2 from the caliper (one garbage reading refused),
specimen 3 typed; points read while each specimen runs; while specimen 2 runs the first client and
the parent are killed, and a client that connects then gets hello, the state and the series so far;
specimen 2 marked invalid, a note. Prints the run file's path last.
usage: station_control.py POLYDAQ CONFIG OUTDIR SOCKET DISPLAY_FILE"""
import os, signal, subprocess, sys, time

from station_client import Client, check, failures

cli, config, outdir, sock, display_file = sys.argv[1:6]


def display(text):
    with open(display_file + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(display_file + ".tmp", display_file)


display("10.050")
# The parent (the server's place): starts the run in a new session and stays until killed.
log = os.path.join(outdir + "-run.log")
parent = subprocess.Popen(["/bin/sh", "-c", 'setsid "$0" run "$1" -o "$2" --control "$3" --control-user "lab admin" '
                           '>"$4" 2>&1 & echo $!; exec sleep 600', cli, config, outdir, sock, log],
                          stdout=subprocess.PIPE)
run_pid = int(parent.stdout.readline())


def stop_everything():
    """On a failure the run (in its own session, waiting for commands) must not outlive the test."""
    for pid in (run_pid, parent.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def on_error(kind, value, tb):
    stop_everything()
    sys.__excepthook__(kind, value, tb)


sys.excepthook = on_error

a = Client(sock, "A")
hello = a.read()
check(hello["type"] == "hello" and hello["protocol"] == 1 and hello["method"] == "iso527" and hello["specimens"] == 3,
      "hello: %r" % hello)
check(hello["instrument"] == "frame1" and os.path.isabs(hello["file"]), "hello names the frame and the absolute file")
check(hello["plot"] == {"x": "strain", "x_unit": "%", "y": "stress", "y_unit": "MPa"}, "hello: plot %r" % hello["plot"])
check({"name": "force", "unit": "N"} in hello["channels"], "hello: channels %r" % hello["channels"])
run_file = hello["file"]
run_id = hello["run_id"]
check(a.read()["type"] == "state", "state after hello")
need = a.until(lambda e: e["type"] == "need_dims", "need_dims 1")
fields = {f["name"]: f for f in need["fields"]}
check(need["specimen"] == 1 and fields["width"]["unit"] == "mm" and fields["width"]["min"] == 0.01 and
      fields["width"]["value"] == 10.0 and fields["gauge_length"]["value"] == 75.0, "need_dims: %r" % need)

# --- a second run on the same instrument: refused at once, exit 2, naming the run -------------
t0 = time.monotonic()
second = subprocess.run([cli, "run", config, "-o", outdir, "--control", sock + "2"], capture_output=True, text=True,
                        timeout=60)
check(second.returncode == 2, "second run on frame1: exit %d, expected 2" % second.returncode)
check("instrument frame1 is in use by run %s" % run_id in second.stderr, "second run: message %r" % second.stderr)
check(time.monotonic() - t0 < 10, "second run refused at once")
check(not os.path.exists(sock + "2"), "the refused run removed its socket")
# ... and a second run on the same socket is refused without touching it
same = subprocess.run([cli, "run", config, "-o", outdir + "-other", "--control", sock], capture_output=True, text=True,
                      timeout=60)
check(same.returncode == 2 and "another run serves this control socket" in same.stderr,
      "a run on a live socket: exit %d %r" % (same.returncode, same.stderr))
check(os.path.exists(sock), "the live run's socket is still there")

# --- a second client; bad commands, each to its sender only, nothing changes ------------------
b = Client(sock, "B")
check(b.read()["type"] == "hello", "B: hello")
bad = [
    (b"this is not json\n", "not JSON"),
    (b'{"cmd":"launch","by":"anna","cmd_id":1}\n', "unknown cmd 'launch'"),
    (b'{"cmd":"start","by":"anna","cmd_id":2,"force":true}\n', "unknown field 'force' in cmd start"),
    (b'{"cmd":"dims","specimen":1,"values":{"width":2000},"by":"anna","cmd_id":3}\n',
     "width 2000 mm is outside the method's range 0.01..1000 mm"),
    (b'{"cmd":"dims","specimen":1,"values":{"width":"10.0 cm"},"by":"anna","cmd_id":4}\n',
     "width '10.0 cm' is text: give a number in mm, without a unit"),
    (b'{"cmd":"dims","specimen":1,"values":{"colour":3},"by":"anna","cmd_id":5}\n', "'colour' is not a dimension"),
    (b'{"cmd":"start","by":"anna","cmd_id":6}\n', "specimen 1 waits for its dimensions"),
    (b'{"cmd":"start","cmd_id":7}\n', "'by' is missing"),
    (b'{"cmd":"start","by":"an\\u0007na","cmd_id":8}\n', "'by' contains a control character"),
    (b'{"cmd":"stop","by":"anna","cmd_id":9}\n', "no specimen is running"),
    (b'{"cmd":"dims","specimen":2,"values":{"width":10},"by":"anna","cmd_id":10}\n',
     "specimen 2 does not take dimensions now"),
    (b'{"cmd":"note","specimen":9,"text":"x","by":"anna","cmd_id":11}\n', "specimen 9 is not in the series of 3"),
    (b'{"cmd":"dims","specimen":1,"values":{"width":10,"width":11},"by":"anna","cmd_id":12}\n', "duplicate"),
    (b'{"cmd":"dims","specimen":1,"values":{"gauge_length":120},"by":"anna","cmd_id":13}\n',
     "gauge length 120 mm must be shorter than the grip distance"),
    (b'{"cmd":"caliper","specimen":1,"field":"depth","by":"anna","cmd_id":14}\n', "'depth' is not a dimension"),
    (b"{" + b'"x":"' + b"y" * (70 * 1024) + b'"}\n', "line longer than 64 KiB"),
]
for line, want in bad:
    a.send_raw(line)
    err = a.until(lambda e: e["type"] in ("error", "ack"), "the reply to %r" % line[:40])
    check(err["type"] == "error" and want in err["message"], "%r: %r, expected '%s'" % (line[:60], err, want))
# the connection stays usable and nothing changed: B saw no error, the state is still waiting_dims
a.send(cmd="note", specimen=1, text="grips cleaned before the series", by="anna", cmd_id=20)
check(a.reply(20)["type"] == "ack", "a good command after the bad ones")
ev = b.until(lambda e: e["type"] == "event" and e["kind"] == "note", "B: the note event")
check(ev["by"] == "anna" and ev["specimen"] == 1, "the note event: %r" % ev)
check(not any(e["type"] in ("error", "ack") for e in b.seen), "B saw no reply meant for A: %r" %
      [e for e in b.seen if e["type"] in ("error", "ack")])
check(not any(e["type"] == "state" and e["state"] != "waiting_dims" for e in a.seen + b.seen),
      "the bad commands changed no state")

# --- specimen 1: typed ----------------------------------------------------------------------------
a.send(cmd="dims", specimen=1, values={"width": 9.90, "thickness": 4.05}, by="anna", cmd_id=21)
check(a.reply(21)["type"] == "ack", "dims 1 accepted")
d = b.until(lambda e: e["type"] == "dims", "B: dims 1")
check(d["values"] == {"width": 9.9, "thickness": 4.05} and d["source"] == {"width": "typed", "thickness": "typed"} and
      d["by"] == "anna", "dims event: %r" % d)
b.state(1, "ready")
b.send(cmd="start", by="bert", cmd_id=22)
check(b.reply(22)["type"] == "ack", "start 1 by B")
b.send(cmd="start", by="bert", cmd_id=23)  # a double start: refused (starting, or running by now)
r = b.reply(23)
check(r["type"] == "error" and ("already starting" in r["message"] or "specimen 1 is running" in r["message"]),
      "double start refused: %r" % r)


def run_specimen(c, k):
    """Reads specimen k's points while it runs; returns them (x, y) and the values events seen."""
    c.state(k, "running")
    xs, ys, values, during = [], [], 0, 0
    while True:
        ev = c.read()
        if ev["type"] == "points" and ev["specimen"] == k:
            xs += ev["x"]
            ys += ev["y"]
            check(len(ev["x"]) == len(ev["y"]) and isinstance(ev["ts"], int), "points batch shape")
            during += 1
        elif ev["type"] == "values":
            values += 1
            check("force" in ev["values"] and "extension" in ev["values"], "values: %r" % ev)
        elif ev["type"] == "state" and ev["specimen"] == k and ev["state"] == "done":
            check(ev["outcome"] == "completed" and ev["machine"] == "stopped", "done: %r" % ev)
            break
    check(during >= 2, "specimen %d: %d points batches arrived while it ran" % (k, during))
    check(values >= 1, "specimen %d: values while it ran" % k)
    return xs, ys


x1, y1 = run_specimen(b, 1)
check(len(x1) >= 50 and len(x1) <= 2000, "specimen 1: %d points" % len(x1))
check(max(y1) > 10, "specimen 1: stress in MPa, max %.3g" % max(y1))
a.state(1, "done")

# --- specimen 2: the caliper (garbage refused), then killed clients and parent ----------------------
a.state(2, "waiting_dims")
a.send(cmd="caliper", specimen=2, field="width", by="anna", cmd_id=30)
check(a.reply(30)["type"] == "ack", "caliper width")
d = a.until(lambda e: e["type"] == "dims" and e["specimen"] == 2, "dims 2 width")
check(d["values"] == {"width": 10.05} and d["source"] == {"width": "caliper"}, "caliper dims: %r" % d)
display("garbage")
time.sleep(0.5)
a.send(cmd="caliper", specimen=2, field="thickness", by="anna", cmd_id=31)
r = a.reply(31)
check(r["type"] == "error" and "caliper1" in r["message"] and "01A+00?#.1x" in r["message"] and
      "nothing stored" in r["message"], "caliper garbage: %r" % r)
display("3.980")
time.sleep(0.5)
a.send(cmd="caliper", specimen=2, field="thickness", by="anna", cmd_id=32)
check(a.reply(32)["type"] == "ack", "caliper thickness")
a.state(2, "ready")
a.send(cmd="start", by="anna", cmd_id=33)
check(a.reply(33)["type"] == "ack", "start 2")
a.until(lambda e: e["type"] == "points" and e["specimen"] == 2, "points of specimen 2")
a.sock.close()  # the browser's server goes away mid-specimen, and so does the parent
parent.kill()
parent.wait()
check(os.kill(run_pid, 0) is None, "the run survives its clients and its parent")
c = Client(sock, "C")
check(c.read()["type"] == "hello", "C: hello after the reconnect")
st = c.read()  # (on a loaded machine specimen 2 may have ended meanwhile)
check(st["type"] == "state" and st["specimen"] in (2, 3), "C: the current state %r" % st)
first = c.until(lambda e: e["type"] == "points", "C: the series so far")
# (every point of a specimen goes out before its done state: B read up to it)
check(first["specimen"] == 1 and first["x"] == x1 and first["y"] == y1,
      "C: specimen 1's points again (%d, first client had %d)" % (len(first["x"]), len(x1)))
c.send(cmd="invalid", specimen=2, reason="broke outside the gauge length", by="carla", cmd_id=40)
check(c.reply(40)["type"] == "ack", "invalid 2")
ev = c.until(lambda e: e["type"] == "event" and e["kind"] == "invalid", "invalid event")
check(ev["by"] == "carla" and ev["specimen"] == 2, "invalid event %r" % ev)

# --- specimen 3 ----------------------------------------------------------------------------------------
if not (st["specimen"] == 3 and st["state"] == "waiting_dims"):
    c.state(3, "waiting_dims")
c.send(cmd="dims", specimen=3, values={"width": 10.10, "thickness": 3.96}, by="carla", cmd_id=50)
check(c.reply(50)["type"] == "ack", "dims 3")
c.send(cmd="return", by="carla", cmd_id=51)
check(c.reply(51)["type"] == "ack", "return between specimens")
c.until(lambda e: e["type"] == "event" and e["kind"] == "return", "return event")
c.state(3, "ready")
c.send(cmd="start", by="carla", cmd_id=52)
check(c.reply(52)["type"] == "ack", "start 3")
run_specimen(c, 3)
end = c.until(lambda e: e["type"] == "end", "end")
check(end["outcome"] == "completed" and end["file"] == run_file, "end: %r" % end)
check(c.read() is None, "the run closes the connection after end")
for _ in range(100):
    try:
        os.kill(run_pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.1)
check(not os.path.exists(sock), "the run removed its socket")
print(run_file)
if failures:
    stop_everything()
sys.exit(1 if failures else 0)
