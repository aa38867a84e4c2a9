#!/usr/bin/env bash
# validate_report_test.sh — `polydaq validate` through the real CLI: the JSON report read back with
# Debian's python (every case has its fields; each pass flag agrees with |computed − expected| <=
# tolerance recomputed there; counts and exit status agree; the method-set SHA-256 is that of
# method-set.txt; the worked examples' expected values match numpy on the reference's data), the
# PDF renders (pdftoppm) and names every case (pdftotext), the table without -o, a missing data
# folder, and bad usage (exit 2, nothing written).
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit; cleanup on exit

# Exit 0 when every case passes, 1 when one fails: both are a complete report; the python check
# below ties the status to the cases.
# The real exports: PD_SHARED_DIR when the environment names it, else beside the source tree (what
# polydaq defaults to); absent, their cases must come out skipped, which is checked too.
data="${PD_SHARED_DIR:-$PD_SOURCE_DIR/../shared}/data/tensile"
"$PD_CLI" validate -o "$work/report" --data "$data" >"$work/out" 2>"$work/err"
status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 1 ] || { fail "validate -o: exit $status"; cat "$work/err" >&2; }
for f in validation.json validation.pdf method-set.txt; do
  [ -s "$work/report/$f" ] || fail "$f written"
done
ls "$work/report" | grep -q '\.tmp$' && fail "temporary files left behind"

/usr/bin/python3 - "$work/report" "$status" <<'PY' || fail "JSON report check"
import hashlib, json, math, sys
import numpy as np

folder, status = sys.argv[1], int(sys.argv[2])
doc = json.load(open(f"{folder}/validation.json"))
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

check(doc["software"]["name"] == "polydaq" and doc["software"]["version"], "software version")
text = open(f"{folder}/method-set.txt", "rb").read()
check(hashlib.sha256(text).hexdigest() == doc["method_set"]["sha256"], "method-set SHA-256")
for m in doc["method_set"]["methods"]:
    check(f"\nmethod {m}\n".encode() in text, f"method-set text names {m}")

fields = ["id", "group", "method", "quantity", "unit", "computed", "expected", "tolerance", "outcome", "pass",
          "source", "note"]
counts = {"pass": 0, "fail": 0, "skipped": 0}
ids = set()
for c in doc["cases"]:
    for f in fields:
        check(f in c, f"{c.get('id')}: field {f}")
    check(c["id"] not in ids, f"duplicate id {c['id']}")
    ids.add(c["id"])
    check(c["source"] != "", f"{c['id']}: the expected value names its source")
    counts[c["outcome"]] += 1
    if c["outcome"] == "skipped":
        check(c["pass"] is False and c["note"].startswith("skipped"), f"{c['id']}: skipped case")
        continue
    comp, exp, tol = c["computed"], c["expected"], c["tolerance"]
    within = comp is not None and exp is not None and tol is not None and abs(comp - exp) <= tol
    if "expected_text" in c:
        within = within and c["expected_text"] == c["computed_text"]
    check(c["pass"] == within, f"{c['id']}: pass={c['pass']} but |{comp} - {exp}| <= {tol} is {within}")
    check((c["outcome"] == "pass") == c["pass"], f"{c['id']}: outcome vs pass flag")
    if c["outcome"] == "fail" and comp is None:
        check(c["note"] != "", f"{c['id']}: a failed evaluation says why")

s = doc["summary"]
check(s["cases"] == len(doc["cases"]), "case count")
check((s["passed"], s["failed"], s["skipped"]) == (counts["pass"], counts["fail"], counts["skipped"]), "summary counts")
check(status == (1 if counts["fail"] else 0), f"exit status {status} with {counts['fail']} failed cases")
check(s["result"] == ("fail" if counts["fail"] else "pass"), "summary result")

groups = {c["group"] for c in doc["cases"]}
check({"worked example", "synthetic"} <= groups, f"groups {groups}")
for m in doc["method_set"]["methods"]:
    check(any(c["method"] == m and c["outcome"] != "skipped" for c in doc["cases"]), f"a case for {m}")

# The worked examples' expected values against numpy on the reference's own data (§12), so a typo
# in the table cannot hide behind a matching computation.
by_id = {c["id"]: c for c in doc["cases"]}
def near(case_id, value):
    c = by_id.get(case_id)
    check(c is not None and abs(c["expected"] - value) <= c["tolerance"],
          f"{case_id}: expected {c and c['expected']} vs numpy {value}")
    check(c is not None and c["computed"] is not None and abs(c["computed"] - value) <= c["tolerance"],
          f"{case_id}: computed {c and c['computed']} vs numpy {value}")
y = np.array([40.0, 39.6, 40.5, 39.8, 40.3])
near("T-stats.mean", y.mean())
near("T-stats.sd", y.std(ddof=1))
a = (np.array([0.412, 0.398, 0.431, 0.405, 0.420, 0.389, 0.417, 0.426, 0.401, 0.410]) - 0.004) / (4 * 8) * 1e3
near("C1.acA-1", a[0]); near("C1.mean", a.mean()); near("C1.sd", a.std(ddof=1))
near("C1.cv", 100 * a.std(ddof=1) / a.mean()); near("C1.acU", (2.36 - 0.01) / 40 * 1e3)
m = np.array([0.1352, 0.1361, 0.1347, 0.1358, 0.1355])
near("M1.MFR", 600 * m.mean() / 10); near("M1.spread", 100 * (m.max() - m.min()) / m.mean())
near("M2.MVR", 0.711 * 600 * 2.5 / 97)
near("D1.rho", 2.5 * 0.99754 / (2.5 - 0.293)); near("D2.rho", 2.0 * 0.99754 / (2.0 + 3.1 - 2.905))
near("H1.delta_s-raw", 0.002 * 64**2 / 24)
near("H1.HDT", float(np.interp(0.34, [0.300, 0.330, 0.362], [95.0, 95.5, 96.0])))
near("A-shore.mean", np.mean([65.2, 64.8, 66.0, 64.9, 65.6]))
t = 20 + 0.7 * np.arange(200)
p = np.where(t < 80, 0, np.where(t < 95, 0.04 * (t - 80), 0.6 + 0.1 * (t - 95)))
near("A-vicat.VST", float(np.interp(1.0, p, t)))
e = np.arange(0, 60001) * 1e-5
sig = np.where(e <= 0.01, 2000 * e, np.where(e <= 0.06, 20 + 20 * (1 - ((0.06 - e) / 0.05) ** 2),
                                             np.where(e <= 0.10, 40 - 8 * (e - 0.06) / 0.04, 32.0)))
r = (e >= 0.0005 - 1e-12) & (e <= 0.0025 + 1e-12)
near("T1.Et-regression", np.polyfit(e[r], sig[r], 1)[0])
near("T1.sigma_m", sig.max()); near("T1.eps_y", 100 * e[sig.argmax()])
s_f1 = lambda s: 0.6 * 120 * np.tanh(24.4140625 * s / 120)
near("F1.Ef", (s_f1(0.0025 * 64**2 / 24) - s_f1(0.0005 * 64**2 / 24)) / 0.002)
near("F1.sigma_fC", s_f1(6.0))

# The real exports: each expected value the table states from numpy is recomputed here from the file
# (the vendor's own header values are checked against the header text); without the data folder the
# cases must be skipped, not failed.
data = doc["real_exports"]["data_dir"]
exports = [c for c in doc["cases"] if c["group"] == "real export"]
check(len(exports) >= 6, f"{len(exports)} real-export cases")
if doc["real_exports"]["data_found"]:
    import csv
    rows = list(csv.reader(open(f"{data}/CFRP_Specimen_RawData_1.csv", encoding="latin-1")))
    header = {r[0]: r[1] for r in rows[:10] if len(r) >= 2}
    a = np.array([[float(x.replace(",", "")) for x in r] for r in rows[12:] if r])
    s, e = a[:, 2] / (10.178 * 2.042), a[:, 3] / 100
    check(abs(float(header["Tensile stress at Tensile strength"]) - by_id["X.cfrp-bluehill.sigma_m"]["expected"]) < 1e-9,
          "CFRP σm is the header's")
    check(abs(100 * float(header["Tensile strain (Strain 1) at Tensile strength"]) - by_id["X.cfrp-bluehill.eps_m"]["expected"]) < 1e-9,
          "CFRP εm is the header's")
    near("X.cfrp-bluehill.Et", (np.interp(0.0025, e, s) - np.interp(0.0005, e, s)) / 0.002)
    lines = open(f"{data}/Invar_LT_05_01.TRA", encoding="latin-1").read().splitlines()
    b = np.array([[float(x) for x in l.split(",")] for l in lines[12:] if l.strip()])
    s, e = b[:, 3] / (1.5 * 4.89), b[:, 2] / 30
    near("X.invar-testxpert.sigma_m", s.max())
    near("X.invar-testxpert.eps_m", 100 * e[s.argmax()])
    near("X.invar-testxpert.Et", (np.interp(0.0025, e, s) - np.interp(0.0005, e, s)) / 0.002)
else:
    check(all(c["outcome"] == "skipped" for c in exports), "real exports skipped without their data")

if errors:
    print("\n".join(errors[:40]), file=sys.stderr)
    sys.exit(1)
print(f"{len(doc['cases'])} cases checked: {counts}")
PY

# The PDF: pages render, and its text names every case.
pdftoppm -r 50 -png "$work/report/validation.pdf" "$work/page" || fail "pdftoppm"
ls "$work"/page-*.png >/dev/null 2>&1 || fail "no page rendered"
pdftotext -layout "$work/report/validation.pdf" "$work/report.txt" || fail "pdftotext"
/usr/bin/python3 - "$work/report/validation.json" "$work/report.txt" <<'PY' || fail "PDF names every case"
import json, sys
doc = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
missing = [c["id"] for c in doc["cases"] if c["id"] not in text]
if missing or doc["method_set"]["sha256"] not in text:
    print("not in the PDF:", missing[:10], file=sys.stderr)
    sys.exit(1)
PY

# Reproducible: a second run writes the same report, byte for byte (seeded noise, no clock in it).
"$PD_CLI" validate -o "$work/again" --data "$data" >/dev/null 2>&1
cmp -s "$work/report/validation.json" "$work/again/validation.json" || fail "a second run's JSON differs"
cmp -s "$work/report/method-set.txt" "$work/again/method-set.txt" || fail "a second run's method set differs"

# Without -o: the table only, the same exit status, no files.
"$PD_CLI" validate >"$work/table" 2>"$work/err"
[ $? -eq "$status" ] || fail "validate without -o: different exit status"
grep -q '^T1.Et-chord ' "$work/table" || fail "table lists the cases"
grep -q 'cases: .* passed, .* failed, .* skipped' "$work/table" || fail "table ends with the counts"

# A missing data folder: its cases are skipped (never failed), the rest is judged as before.
"$PD_CLI" validate --data "$work/no-such-folder" -o "$work/nodata" >/dev/null 2>"$work/err"
nodata_status=$?
/usr/bin/python3 - "$work/nodata/validation.json" "$nodata_status" <<'PY' || fail "missing data folder"
import json, sys
d = json.load(open(sys.argv[1]))
x = [c for c in d["cases"] if c["group"] == "real export"]
ok = d["real_exports"]["data_found"] is False and x and all(
    c["outcome"] == "skipped" and c["note"].startswith("skipped: data not found") and c["computed"] is None for c in x)
failed = sum(c["outcome"] == "fail" for c in d["cases"])
ok = ok and d["summary"]["skipped"] == len(x) and int(sys.argv[2]) == (1 if failed else 0)
sys.exit(0 if ok else 1)
PY

# Bad usage: exit 2, nothing written.
for args in "--bogus" "extra-operand" "-o" "--data"; do
  # shellcheck disable=SC2086
  "$PD_CLI" validate $args >/dev/null 2>"$work/err"
  [ $? -eq 2 ] || fail "validate $args: expected exit 2"
  grep -q 'polydaq validate:' "$work/err" || fail "validate $args: message names the command"
done
"$PD_CLI" validate -o "$work/bad" extra >/dev/null 2>&1
[ $? -eq 2 ] || fail "extra operand with -o: exit 2"
[ -e "$work/bad" ] && fail "bad usage wrote $work/bad"
# An output folder that cannot be created (a file is in the way): runtime error, no report.
touch "$work/file"
"$PD_CLI" validate -o "$work/file/sub" >/dev/null 2>"$work/err"
[ $? -eq 3 ] || fail "unwritable output folder: expected exit 3"

[ $fails -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "validate report: all checks passed"
