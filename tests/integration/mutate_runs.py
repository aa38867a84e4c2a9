"""mutate_runs.py — the seeded mutation test of the run-file readers (store_mutation_test.sh).

    mutate_runs.py --cli POLYDAQ --spec SPEC.yaml --work DIR --seed S --count N [--jobs J]
                   KIND=RUN.h5 [KIND=RUN.h5 ...] [--only KIND:INDEX]

Makes N mutants of each run file — bit flips, byte runs set to 0x00 or 0xFF, truncations; half of
the changes land in the file's first 16 KiB, where HDF5 keeps the superblock and the first object
headers — and runs `polydaq inspect`, `export`, `certify` and `recover` on each. A mutant may still
read fine (exit 0; certify 1 for a failed limit); every failure must be exit 2 with a message that
names the file, leave no output behind, and no command may die by a signal or run past the wall
limit (a hang). With --src, a sanitizer report (ASan/UBSan build) whose first frame is in
polydaq's own source fails too: the reading child may crash inside HDF5, not in polydaq's code.
Each mutant is a function of (seed, kind, index) alone: `--only KIND:INDEX` with
the printed seed makes the same one again (kept in DIR/failed/ when it fails a check).
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

WALL_S = 60  # a polydaq command still running after this long is a hang
HEAD = 16384


def mutate(data, rng):
    """Returns the mutant's bytes and a description of what was changed."""
    buf = bytearray(data)
    size = len(buf)
    what = []
    kind = rng.random()
    if kind < 0.1:
        cut = rng.randrange(1, size)
        return bytes(buf[:cut]), f"truncated to {cut} bytes"
    for _ in range(rng.randint(1, 4)):
        span = HEAD if rng.random() < 0.5 and size > HEAD else size
        at = rng.randrange(span)
        if kind < 0.7:
            bit = rng.randrange(8)
            buf[at] ^= 1 << bit
            what.append(f"bit {bit} of byte {at} flipped")
        else:
            n = min(rng.randint(1, 64), size - at)
            fill = rng.choice((0x00, 0xFF))
            buf[at:at + n] = bytes([fill]) * n
            what.append(f"{n} bytes at {at} set to 0x{fill:02X}")
    return bytes(buf), "; ".join(what)


def run(cmd, env):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=WALL_S, env=env)
        return p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return None, f"still running after {WALL_S} s"


def own_code_fault(err, src):
    """The first frame of a sanitizer report when it lies in polydaq's own source (under `src`):
    a crash there is a defect, while one inside HDF5 is what the reading child is for."""
    if "ERROR: AddressSanitizer" not in err and ": runtime error:" not in err:
        return None
    for line in err.splitlines():
        line = line.strip()
        if ": runtime error:" in line:
            return line if src in line else None
        # the first frame that is not the sanitizer's own (an intercepted memcpy is its caller's)
        if line.startswith("#") and "__interceptor_" not in line and "sanitizer_common" not in line:
            return line if src in line else None
    return None


def check_mutant(args, env, kind, index, original):
    rng = random.Random(f"{args.seed}:{kind}:{index}")
    data, what = mutate(original, rng)
    d = tempfile.mkdtemp(prefix=f"{kind}-{index}-", dir=args.work)
    path = os.path.join(d, "run.h5")
    with open(path, "wb") as f:
        f.write(data)
    problems = []
    commands = (
        ("inspect", [args.cli, "inspect", path], (0, 2), None),
        ("export", [args.cli, "export", path, "-f", "csv", "-o", os.path.join(d, "out.csv")], (0, 2), "out.csv"),
        ("certify", [args.cli, "certify", path, "--spec", args.spec, "-o", os.path.join(d, "certs")], (0, 1, 2),
         "certs/CERT-000001.json"),
        ("recover", [args.cli, "recover", path, "-o", os.path.join(d, "recovered.h5")], (0, 2), "recovered.h5"),
    )
    exits = []
    for name, cmd, allowed, output in commands:
        rc, err = run(cmd, env)
        exits.append(f"{name} {rc}")
        if rc is None:
            problems.append(f"{name}: HANG ({err})")
        elif rc < 0:
            problems.append(f"{name}: killed by signal {-rc} ({signal.Signals(-rc).name})")
        elif rc not in allowed:
            problems.append(f"{name}: exit {rc}, expected one of {allowed}: {err.strip()[:300]}")
        elif rc == 2 and path not in err:
            problems.append(f"{name}: exit 2 without naming the file: {err.strip()[:300]}")
        elif rc == 2 and output and os.path.exists(os.path.join(d, output)):
            problems.append(f"{name}: failed but left {output} behind")
        if rc is not None and "crashed with signal" in err:
            exits.append(f"{name} reader crashed")
        fault = own_code_fault(err, args.src) if args.src else None
        if fault:
            problems.append(f"{name}: sanitizer report in polydaq's own code: {fault}")
    if problems:
        keep = os.path.join(args.work, "failed")
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, os.path.join(keep, f"{kind}-{index}.h5"))
    shutil.rmtree(d, ignore_errors=True)
    return kind, index, what, exits, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--count", type=int, default=150)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--src", default=None, help="polydaq's source folder: sanitizer reports there fail")
    ap.add_argument("--only", default=None, help="KIND:INDEX — one mutant again")
    ap.add_argument("files", nargs="+", help="KIND=RUN.h5")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    print(f"mutate_runs: seed {args.seed} ({args.count} mutants per file; again with --seed {args.seed})",
          flush=True)
    originals = {}
    for spec in args.files:
        kind, path = spec.split("=", 1)
        with open(path, "rb") as f:
            originals[kind] = f.read()
    jobs = [(k, i) for k in originals for i in range(args.count)]
    if args.only:
        k, i = args.only.split(":")
        jobs = [(k, int(i))]
    env = dict(os.environ)
    # Damaged files should fail within seconds here: the reader's limits are tightened (the
    # defaults are for real files of any size).
    env.setdefault("POLYDAQ_READ_SECONDS", "3")
    env.setdefault("POLYDAQ_READ_MEMORY_MB", "256")
    bad = 0
    tally = {}
    contained = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for kind, index, what, exits, problems in pool.map(
                lambda j: check_mutant(args, env, j[0], j[1], originals[j[0]]), jobs):
            for e in exits:
                tally[e] = tally.get(e, 0) + 1
            if any(e.endswith("reader crashed") for e in exits):
                contained.append(f"{kind}:{index}")
            if problems:
                bad += 1
                print(f"FAIL {kind}:{index} ({what}):", file=sys.stderr)
                for p in problems:
                    print(f"    {p}", file=sys.stderr)
            elif args.only:
                print(f"{kind}:{index} ({what}): {', '.join(exits)}")
    print("exits: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    if contained:
        print(f"reading child crashed (contained, exit 2) on: {' '.join(contained)}")
    print(f"mutate_runs: {len(jobs)} mutants, {bad} failed a check (seed {args.seed})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
