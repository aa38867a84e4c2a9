"""station_client.py — a client of a station run's control socket (docs/STATION.md "Protocol"), as
the lab server would be: newline-delimited JSON, events read with a bound that only guards against
a hang; and a run started under test the way the server starts one. Used by the station_*.py
run-side tests."""
import json, socket, subprocess, sys, time


failures = []  # what failed, in order (the scripts exit 1 when any)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def start_run(cli, config, outdir, sock, user="lab admin"):
    """`polydaq run CONFIG -o OUTDIR --control SOCK` in a session of its own (as the server starts
    it), output to OUTDIR-run.log; an exception in the test kills it (it waits for commands and
    must not outlive a failed test). Returns the Popen and the log's path."""
    log = outdir + "-run.log"
    run = subprocess.Popen(["/bin/sh", "-c", 'exec setsid "$0" run "$1" -o "$2" --control "$3" --control-user "$4" '
                            '>"$5" 2>&1', cli, config, outdir, sock, user, log])

    def on_error(kind, value, tb):
        run.kill()
        sys.__excepthook__(kind, value, tb)

    sys.excepthook = on_error
    return run, log


class Client:
    def __init__(self, path, name, timeout=60.0):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        end = time.monotonic() + timeout
        while True:  # the run creates the socket when it starts
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.seen = []  # every event read, in order
        self.timeout = timeout

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, **cmd):
        self.sock.sendall((json.dumps(cmd) + "\n").encode())

    def read(self, timeout=None):
        """The next event, or None when the run closed the connection."""
        end = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s: no event in time; last seen %r" % (self.name, self.seen[-3:]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        ev = json.loads(line)
        self.seen.append(ev)
        return ev

    def until(self, pred, what, timeout=None):
        """Reads events until one satisfies pred; returns it (and keeps the others in self.seen).
        The bound is for the whole wait: values events arrive all the time."""
        end = time.monotonic() + (timeout or self.timeout)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s: no %s in time; last events %r" % (
                    self.name, what, [e for e in self.seen if e["type"] not in ("values", "points")][-5:]))
            ev = self.read(left)
            if ev is None:
                raise EOFError("%s: connection closed waiting for %s" % (self.name, what))
            if pred(ev):
                return ev

    def reply(self, cmd_id):
        """The ack or error for a command sent with this cmd_id."""
        return self.until(lambda e: e["type"] in ("ack", "error") and e.get("cmd_id") == cmd_id,
                          "the reply to cmd %s" % cmd_id)

    def state(self, specimen, state):
        return self.until(lambda e: e["type"] == "state" and e["specimen"] == specimen and e["state"] == state,
                          "specimen %d %s" % (specimen, state))

    def close(self):
        self.sock.close()
