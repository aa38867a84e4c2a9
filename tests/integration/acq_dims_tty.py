#!/usr/bin/python3
"""acq_dims_tty.py — plays the technician at a terminal for acq_dims_test.sh: `polydaq run` with
`specimen: dimensions: prompt` on a pty; types garbage, an out-of-range width, then good values,
keeps a default with Enter, rejects specimen 1 with a reason, accepts specimen 2, and ends the input
(Ctrl-D) at specimen 3's width. Then checks the run file: the typed values with their sources, the
invalid mark, specimen 3 not tested, outcome interrupted with the reason, and that every question
began on its own line (the live progress line was not overwritten).
usage: acq_dims_tty.py POLYDAQ CONFIG OUTDIR"""
import os, sys
import h5py

from pty_session import PtySession

cli, config, outdir = sys.argv[1:4]
interrupt = len(sys.argv) > 4 and sys.argv[4] == "ctrl-c"
session = PtySession([cli, "run", config, "-o", outdir])
pid, fd, failures = session.pid, session.fd, session.failures
expect, check = session.expect, session.check


def ask(pattern, what, answer):
    before = expect(pattern, what)
    # the question starts a line of its own: the progress line before it was ended
    check(before == b"" or before.endswith(b"\n"), "%s: starts on a fresh line (before it: %r)" % (what, before[-80:]))
    os.write(fd, answer)


if interrupt:
    # Ctrl-C while the terminal asks: the series stops before the specimen, as Ctrl-C always does
    ask(rb"specimen 1/3: width b in mm \[10\]: ", "width 1", b"9.9\n")
    ask(rb"specimen 1/3: thickness h in mm \[4\]: ", "thickness 1", b"\x03")
    expect(rb"outcome interrupted: stopped on request by SIGINT after 0 of 3 specimens tested", "interrupted by SIGINT")
    _, status = os.waitpid(pid, 0)
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130, "Ctrl-C: exit status 130 (got %r)" % status)
    print("acq_dims_tty ctrl-c: %s" % ("FAILED" if failures else "passed"))
    sys.exit(1 if failures else 0)
ask(rb"specimen 1/3: width b in mm \[10\]: ", "width 1", b"abc\n")
expect(rb"'abc' is not a number", "garbage refused")
ask(rb"specimen 1/3: width b in mm \[10\]: ", "width 1 again", b"5000\n")
expect(rb"outside the method's range", "range refused")
ask(rb"specimen 1/3: width b in mm \[10\]: ", "width 1 third", b"9.7\n")
ask(rb"specimen 1/3: thickness h in mm \[4\]: ", "thickness 1", b"\n")
ask(rb"specimen 1/3: Enter to accept, or type the reason it is invalid: ", "verdict 1", b"slipped in the grips\n")
ask(rb"specimen 2/3: width b in mm \[10\]: ", "width 2", b"10.3 mm\n")
ask(rb"specimen 2/3: thickness h in mm \[4\]: ", "thickness 2", b" 4.05 \n")
ask(rb"specimen 2/3: Enter to accept, or type the reason it is invalid: ", "verdict 2", b"\n")
ask(rb"specimen 3/3: width b in mm \[10\]: ", "width 3", b"\x04")  # Ctrl-D: end of input
expect(rb"outcome interrupted", "outcome interrupted")
expect(rb"(\S+\.h5)\r?\n", "the run file's path")
_, status = os.waitpid(pid, 0)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130, "exit status 130 (got %r)" % status)

runs = [n for n in os.listdir(outdir) if n.endswith(".h5")]
check(len(runs) == 1, "one run file")
f = h5py.File(os.path.join(outdir, runs[0]), "r")
s1, s2 = f["specimen_01/sample"], f["specimen_02/sample"]
check(s1["width"][()] == 9.7 and s1["width_source"][()] == b"typed", "specimen 1 width typed 9.7")
check(s1["thickness"][()] == 4.0 and s1["thickness_source"][()] == b"config (accepted on the terminal)",
      "specimen 1 thickness: the default accepted")
check(f["specimen_01/status"][()] == b"invalid: slipped in the grips", "specimen 1 invalid")
check(s1["invalid_reason"][()] == b"slipped in the grips", "specimen 1 invalid_reason")
check(s2["width"][()] == 10.3 and s2["thickness"][()] == 4.05, "specimen 2 typed values")
check(f["specimen_02/status"][()] == b"tested", "specimen 2 tested")
check(f["specimen_03/status"][()] == b"not tested", "specimen 3 not tested")
check(f.attrs["outcome"] == b"interrupted" if isinstance(f.attrs["outcome"], bytes) else f.attrs["outcome"] == "interrupted",
      "outcome interrupted")
reason = f.attrs["outcome_reason"]
reason = reason.decode() if isinstance(reason, bytes) else reason
check("end of input" in reason, "outcome_reason names the end of input: %r" % reason)
check(len(f["specimen_01/frame1/force"]) > 0 and len(f["specimen_02/frame1/force"]) > 0, "data kept")
print("acq_dims_tty: %s" % ("FAILED" if failures else "passed"))
sys.exit(1 if failures else 0)
