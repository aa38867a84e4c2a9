"""Independent h5py checks of a polydaq run file for the acquisition-engine tests.

usage: acq_check.py accounting RUN.h5 [--expect-overrun INSTRUMENT] [--plain] [--clean 0|1]
         every instrument: timestamps and sequence numbers strictly increase (within and across
         specimens); written + recorded overruns = acquired, and the written sequence numbers and
         the overrun ranges tile 0..acquired-1 exactly; with --expect-overrun that instrument has
         at least one recorded overrun. --plain opens without SWMR (a closed or recovered file).
       acq_check.py grows RUN.h5 DATASET SECONDS
         opens the live file as a SWMR reader and waits until DATASET grows (exit 0) or SECONDS pass.
       acq_check.py events RUN.h5 KIND
         the file (any specimen or run level) has an event of that kind.
"""
import sys
import time

import h5py
import numpy as np


def open_run(path, plain):
    if plain:
        return h5py.File(path, "r")
    return h5py.File(path, "r", libver="latest", swmr=True)


def specimens(f):
    k = 1
    while "specimen_%02d" % k in f:
        yield f["specimen_%02d" % k]
        k += 1


def accounting(path, expect_overrun, plain, clean):
    f = open_run(path, plain)
    if clean is not None:
        assert int(f.attrs["closed_cleanly"]) == clean, "closed_cleanly is %s" % f.attrs["closed_cleanly"]
    instruments = list(f["specimen_01/instrument"].keys())
    assert len(instruments) >= 1
    overruns = f["overruns"][:] if "overruns" in f else np.zeros(0)
    for name in instruments:
        seqs, times = [], []
        for sp in specimens(f):
            g = sp[name]
            n = len(g["time"])
            for col in g:
                assert len(g[col]) == n, "%s/%s: %d rows, time has %d" % (g.name, col, len(g[col]), n)
                assert "units" in g[col].attrs, "%s/%s has no units" % (g.name, col)
            seqs.append(g["sequence"][:])
            times.append(g["time"][:])
        seq = np.concatenate(seqs)
        t = np.concatenate(times)
        assert np.all(np.diff(t) > 0), "%s: timestamps not strictly increasing" % name
        assert np.all(np.diff(seq.astype(np.int64)) > 0), "%s: sequence not strictly increasing" % name
        mine = [o for o in overruns if o["instrument"].decode() == name]
        lost = int(sum(int(o["count"]) for o in mine))
        covered = np.zeros(0, dtype=np.uint64)
        for o in mine:
            assert int(o["last_seq"]) - int(o["first_seq"]) + 1 == int(o["count"]), "merged overrun range"
            assert o["t_first"] <= o["t_last"]
            covered = np.concatenate([covered, np.arange(int(o["first_seq"]), int(o["last_seq"]) + 1, dtype=np.uint64)])
        allseq = np.sort(np.concatenate([seq, covered]))
        acquired = len(allseq)
        assert np.array_equal(allseq, np.arange(acquired, dtype=np.uint64)), \
            "%s: written sequence numbers and overrun ranges do not tile 0..%d" % (name, acquired - 1)
        if "acquisition" in f:  # a cleanly closed file has the counters too
            a = f["acquisition"][name].attrs
            assert int(a["samples_acquired"]) == acquired, "%s: acquired %d, file accounts for %d" % (
                name, a["samples_acquired"], acquired)
            assert int(a["samples_written"]) == len(seq)
            assert int(a["samples_lost"]) == lost
            assert int(a["samples_lost_recorded"]) == lost
            assert "missed_deadlines" in a
        if name == expect_overrun:
            assert lost > 0 and len(mine) >= 1, "%s: no overrun recorded" % name
        print("%s: %d acquired = %d written + %d lost in %d overrun(s)" % (name, acquired, len(seq), lost, len(mine)))
    if clean:
        assert int(f.attrs["samples_acquired"]) == int(f.attrs["samples_written"]) + int(f.attrs["samples_lost"])


def grows(path, dataset, seconds):
    deadline = time.monotonic() + seconds
    f = None
    while f is None:
        try:
            f = open_run(path, False)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    d = f[dataset]
    d.refresh()
    first = d.shape[0]
    while time.monotonic() < deadline:
        time.sleep(0.3)
        d.refresh()
        if d.shape[0] > first:
            print("%s grew from %d to %d while being written" % (dataset, first, d.shape[0]))
            return
    raise AssertionError("%s did not grow from %d within %s s" % (dataset, first, seconds))


def events(path, kind):
    f = open_run(path, False)
    kinds = [e["kind"].decode() for e in f["events"][:]]
    for sp in specimens(f):
        kinds += [e["kind"].decode() for e in sp["events"][:]]
    assert kind in kinds, "no '%s' event (have %s)" % (kind, sorted(set(kinds)))


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "accounting":
        args = sys.argv[3:]
        expect = args[args.index("--expect-overrun") + 1] if "--expect-overrun" in args else None
        clean = int(args[args.index("--clean") + 1]) if "--clean" in args else None
        accounting(path, expect, "--plain" in args, clean)
    elif cmd == "grows":
        grows(path, sys.argv[3], float(sys.argv[4]))
    elif cmd == "events":
        events(path, sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
