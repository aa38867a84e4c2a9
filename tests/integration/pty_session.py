"""pty_session.py — a program run on a pseudo-terminal and played by a test script, as a
technician at a terminal would: wait for a pattern in its output, type an answer, check facts.
Used by acq_dims_tty.py and acq_dims_caliper.py."""
import os, pty, re, select, sys, time


class PtySession:
    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.seen = b""
        self.failures = []

    def _give_up(self, why, what):
        print("FAIL: %s waiting for %s; got %r" % (why, what, self.seen[-600:]))
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        sys.exit(1)

    def expect(self, pattern, what, timeout=60.0):
        """Reads until `pattern` (a regex on bytes) shows and returns what came before it; the
        bound only guards against a hang."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.seen)
            if m:
                before = self.seen[: m.start()]
                self.seen = self.seen[m.end():]
                return before
            left = end - time.monotonic()
            if left <= 0:
                self._give_up("timeout", what)
            if not select.select([self.fd], [], [], left)[0]:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                self._give_up("end of output", what)
            self.seen += chunk

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL:", what)
