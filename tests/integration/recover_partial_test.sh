#!/usr/bin/env bash
# recover_partial_test.sh — a SWMR flush is not atomic across datasets, so a writer killed during one
# can leave a sample table's columns of different lengths. `polydaq recover` keeps only the rows
# every column has and notes how many partial ones it cut (`recovered_partial_rows`).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed 's/specimens: 3/specimens: 1/' "$PD_SOURCE_DIR/config/shore.yaml" >"$work/lab.yaml"
"$PD_CLI" run "$work/lab.yaml" -o "$work/runs" -q >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
run_file=$(tail -n1 "$work/out")
# As the file would look had the writer died between extending `time` and the other columns.
/usr/bin/python3 - "$run_file" >"$work/group" <<'PYEOF' || exit 1
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
sp = f["specimen_01"]
g = next(sp[k] for k in sp if isinstance(sp[k], h5py.Group) and "sequence" in sp[k] and len(sp[k]["time"]) > 0)
n = len(g["time"])
g["time"].resize((n + 3,))
g["time"][n:] = g["time"][n - 1] + np.arange(1, 4)
f.attrs["closed_cleanly"] = np.int64(0)
print(g.name, n)
PYEOF
"$PD_CLI" recover "$run_file" >/dev/null 2>"$work/err" || { echo "FAIL: recover: $(cat "$work/err")" >&2; exit 1; }
/usr/bin/python3 - "$run_file" $(cat "$work/group") <<'PYEOF' || { echo "FAIL: partial rows kept" >&2; exit 1; }
import sys, h5py
f = h5py.File(sys.argv[1], "r")
g, n = f[sys.argv[2]], int(sys.argv[3])
lengths = {k: len(g[k]) for k in g if isinstance(g[k], h5py.Dataset)}
assert set(lengths.values()) == {n}, lengths
assert int(g.attrs["recovered_partial_rows"]) == 3, dict(g.attrs)
assert int(f.attrs["recovered"]) == 1
PYEOF
echo "recover_partial_test: passed"
