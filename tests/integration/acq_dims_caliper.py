#!/usr/bin/python3
"""acq_dims_caliper.py — the technician with the simulated caliper, for acq_dims_test.sh:
`polydaq run` with `dimensions: prompt` and `caliper: caliper1` on a pty, the caliper simulator's
display set through its control file. Specimen 1: Enter takes the caliper's width (9.912); the
caliper then sends garbage (refused, the technician is told to type; types 4.03); specimen 2: the
caliper falls silent (told, types 10.2), then answers again (thickness 3.951 from the caliper).
Then checks the values and their sources in the run file (the caliper's name and serial).
usage: acq_dims_caliper.py POLYDAQ CONFIG OUTDIR CONTROL_FILE"""
import os, sys
import h5py

from pty_session import PtySession

cli, config, outdir, control = sys.argv[1:5]


def display(text):
    with open(control + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(control + ".tmp", control)


display("9.912")
session = PtySession([cli, "run", config, "-o", outdir])
pid, fd, failures = session.pid, session.fd, session.failures
expect, check = session.expect, session.check


Q = rb"specimen %d/2: %s in mm: measure with caliper1 and press Enter, or type it: "
expect(Q % (1, b"width b"), "width 1")
os.write(fd, b"\n")
expect(rb"caliper1: 9\.912 mm", "the caliper's width shown")
display("garbage")
expect(Q % (1, b"thickness h"), "thickness 1")
os.write(fd, b"\n")
expect(rb"caliper1 gave no reading in [0-9.]+ s \([^)]*failed reads: no answer or an unreadable line\): type the thickness",
       "garbage: told to type")
expect(Q % (1, b"thickness h"), "thickness 1 again")
os.write(fd, b"4.03\n")
expect(rb"Enter to accept, or type the reason it is invalid: ", "verdict 1")
display("silent")
os.write(fd, b"\n")
expect(Q % (2, b"width b"), "width 2")
os.write(fd, b"\n")
expect(rb"caliper1 gave no reading in [0-9.]+ s \(.*\): type the width", "silent: told to type")
expect(Q % (2, b"width b"), "width 2 again")
os.write(fd, b"10.2\n")
display("3.951")
expect(Q % (2, b"thickness h"), "thickness 2")
os.write(fd, b"\n")
expect(rb"caliper1: 3\.951 mm", "the caliper answers again")
expect(rb"Enter to accept, or type the reason it is invalid: ", "verdict 2")
os.write(fd, b"\n")
expect(rb"outcome completed", "outcome completed")
expect(rb"(\S+\.h5)\r?\n", "the run file's path")
_, status = os.waitpid(pid, 0)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "exit status 0 (got %r)" % status)

runs = [n for n in os.listdir(outdir) if n.endswith(".h5")]
f = h5py.File(os.path.join(outdir, runs[0]), "r")
s1, s2 = f["specimen_01/sample"], f["specimen_02/sample"]
src = "caliper caliper1 digital caliper 0-150 mm on a Digimatic interface (simulated) s/n CAL-0001"
check(s1["width"][()] == 9.912, "specimen 1 width from the caliper: %r" % s1["width"][()])
check(s1["width_source"][()].decode() == src, "specimen 1 width source: %r" % s1["width_source"][()])
check(s1["thickness"][()] == 4.03 and s1["thickness_source"][()] == b"typed", "specimen 1 thickness typed")
check(s2["width"][()] == 10.2 and s2["width_source"][()] == b"typed", "specimen 2 width typed")
check(s2["thickness"][()] == 3.951 and s2["thickness_source"][()].decode() == src, "specimen 2 thickness from the caliper")
print("acq_dims_caliper: %s" % ("FAILED" if failures else "passed"))
sys.exit(1 if failures else 0)
