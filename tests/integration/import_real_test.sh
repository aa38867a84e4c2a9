#!/usr/bin/env bash
# import_real_test.sh — the lab's real vendor exports (../shared/data/tensile: a Zwick testXpert
# .TRA and an Instron Bluehill raw-data CSV) through `polydaq import` and `polydaq certify`: the run
# files hold exactly what an independent parse of the sources with Python's csv module gives
# (h5py), they are marked imported with the sources' SHA-256 (hashlib), certify reports what the
# curves allow and says why the rest is n/a (results checked against numpy and the Bluehill file's
# own results), the calibration gate refuses accreditation without the source instrument's
# calibration and accepts it with one in the map, and damaged copies are refused with exit 2 and
# nothing written. Skips (77) when the shared data are absent.
set -u
: "${PD_SOURCE_DIR:?}" "${PD_CLI:?}"
data="${PD_SHARED_DIR:-$PD_SOURCE_DIR/../shared}/data/tensile"
tra="$data/Invar_LT_05_01.TRA"
bh="$data/CFRP_Specimen_RawData_1.csv"
if [ ! -r "$tra" ] || [ ! -r "$bh" ]; then
  echo "SKIP: the real exports are not in $data" >&2
  exit 77
fi
# shellcheck source=lib.sh
source "$PD_SOURCE_DIR/tests/integration/lib.sh" # $work, $pids, fail, expect_exit; cleanup on exit

runs="$work/runs"
expect_exit 0 "import testXpert" "$PD_CLI" import "$tra" --format testxpert -o "$runs"
[ "$(cat "$work/out")" = "$runs/Invar_LT_05_01.h5" ] || fail "testXpert run path ($(cat "$work/out"))"
expect_exit 0 "import Bluehill" "$PD_CLI" import "$bh" --format bluehill -o "$runs"
[ "$(cat "$work/out")" = "$runs/CFRP.h5" ] || fail "Bluehill run path ($(cat "$work/out"))"
expect_exit 0 "import Bluehill, crosshead Extension as extension" "$PD_CLI" import "$bh" --format bluehill -o "$runs" \
  --extension-column Extension --run-id CFRP-xhead
expect_exit 2 "the same run again is not replaced" "$PD_CLI" import "$tra" --format testxpert -o "$runs"
grep -q "already exists" "$work/err" || fail "says the run exists"

# ---- the run files against an independent parse of the sources --------------------------------
cat >"$work/check_runs.py" <<'PY'
import csv, hashlib, sys
import h5py, numpy as np
tra, bh, runs = sys.argv[1:4]
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()

# testXpert: 12 header lines (10 "name",value,"unit" + names + units), latin-1
rows = list(csv.reader(open(tra, encoding="latin-1")))
names, units, data = rows[10], rows[11], np.array([[float(x) for x in r] for r in rows[12:]])
check(names == ["Time", "Crosshead absolute", "Standard travel", "Standard force", "Capteur de course"], "TRA names")
with h5py.File(runs + "/Invar_LT_05_01.h5", "r") as f:
    check(f.attrs["imported"] == 1 and f.attrs["simulated"] == 0, "TRA imported, not simulated")
    check(f.attrs["import_sha256"] == sha(tra), "TRA sha256")
    check(f.attrs["import_files"] == "Invar_LT_05_01.TRA", "TRA file name")
    check(f.attrs["import_software"] == "ZwickRoell testXpert", "TRA software")
    check(f.attrs["method"] == "iso527", "TRA method")
    # "Date/Clock time",44182.5: days since 1899-12-30 → 2020-12-17 12:00
    t0 = int(round((44182.5 - 25569) * 86400)) * 10**9
    check(f.attrs["start_time"].startswith("2020-12-17T12:00:00"), "TRA start_time")
    e = f["specimen_01"]
    check(e["status"][()].decode() == "tested", "TRA status")
    s = e["sample"]
    check((s["width"][()], s["thickness"][()], s["gauge_length"][()]) == (4.89, 1.5, 30.0), "TRA dimensions")
    check(s["width"].attrs["units"] == "mm", "TRA width units")
    check("grip_distance" not in s, "TRA has no grip distance")
    fr = e["frame"]
    check(len(fr["force"]) == len(data) == 5336, "TRA sample count")
    check(np.array_equal(fr["force"][:], data[:, 3]), "TRA force = Standard force")
    check(np.array_equal(fr["extension"][:], data[:, 2]), "TRA extension = Standard travel")
    check(np.allclose(fr["crosshead"][:], data[:, 1] - data[0, 1], rtol=0, atol=1e-9), "TRA crosshead = relative")
    check(np.array_equal(fr["capteur_de_course"][:], data[:, 4]), "TRA extra column kept")
    check(np.array_equal(fr["time"][:], t0 + np.round(data[:, 0] * 1e9).astype(np.int64)), "TRA time")
    check(all(fr[k].attrs["units"] == u for k, u in (("force", "N"), ("extension", "mm"), ("crosshead", "mm"))), "TRA units")
    i = e["instrument/frame"]
    check(i.attrs["imported"] == 1 and i.attrs["calibration_due"] == "", "TRA instrument: imported, no calibration")

# Bluehill: header lines, a blank one, names, units; quoted numbers with thousands separators
rows = list(csv.reader(open(bh, newline="")))
at = next(i for i, r in enumerate(rows) if r and r[0] == "Time")
hdr = {r[0]: r[1:] for r in rows[:at] if r}
names, units = rows[at], rows[at + 1]
data = np.array([[float(x.replace(",", "")) for x in r] for r in rows[at + 2:]])
check(len(data) == 1467, "CFRP rows")
check(names[3] == "Tensile strain (Strain 1)" and units[3] == "(%)", "CFRP strain column")
L0 = float(hdr["Length"][0])
for name, ext_from in (("CFRP", "strain"), ("CFRP-xhead", "Extension")):
    with h5py.File(runs + "/" + name + ".h5", "r") as f:
        check(f.attrs["import_sha256"] == sha(bh), name + " sha256")
        check(f.attrs["import_software"] == "Instron Bluehill", name + " software")
        check("start_time" not in f.attrs and "unknown" in f.attrs["import_time_origin"], name + " no date")
        e = f["specimen_01"]
        check(e.attrs["specimen_id"] == hdr["Specimen ID"][0], name + " specimen id")
        s = e["sample"]
        check(s["width"][()] == float(hdr["Width"][0]) and s["thickness"][()] == float(hdr["Thickness"][0]), name + " b, h")
        check(s["gauge_length"][()] == L0, name + " L0")
        fr = e["frame"]
        check(np.array_equal(fr["force"][:], data[:, 2]), name + " force = Load")
        check(np.array_equal(fr["time"][:], np.round(data[:, 0] * 1e9).astype(np.int64)), name + " time")
        if ext_from == "strain":
            check(np.allclose(fr["extension"][:], data[:, 3] / 100 * L0, rtol=1e-14, atol=1e-18), name + " extension = strain·L0")
            check(np.array_equal(fr["crosshead"][:], data[:, 1]), name + " crosshead = Extension")
            check("Tensile strain (Strain 1)" in f.attrs["import_strain"], name + " strain choice recorded")
        else:
            check(np.array_equal(fr["extension"][:], data[:, 1]), name + " extension = Extension")
            check("crosshead" not in fr, name + " no crosshead")
            check(np.array_equal(fr["tensile_strain_strain_1"][:], data[:, 3]), name + " strain kept")
        check(np.array_equal(fr["tensile_stress"][:], data[:, 4]), name + " stress column kept")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
/usr/bin/python3 "$work/check_runs.py" "$tra" "$bh" "$runs" >"$work/py" 2>&1 || { fail "run files:"; cat "$work/py" >&2; }

# ---- certify: what the data allow, n/a with reasons, the calibration gate ----------------------
cat >"$work/spec.yaml" <<'YAML'
spec: {name: import check, material: as imported, method: iso527, decision_rule: simple}
properties:
  - {property: tensile_modulus, statistic: mean, min: 1, unit: MPa}
  - {property: tensile_strength, statistic: mean, min: 1, unit: MPa}
  - {property: strain_at_strength, statistic: mean, min: 0, unit: "%"}
  - {property: stress_at_break, statistic: mean, min: 0, unit: MPa}
  - {property: strain_at_break, statistic: mean, min: 0, unit: "%"}
  - {property: nominal_strain_at_break, statistic: mean, min: 0, unit: "%"}
YAML
for r in Invar_LT_05_01 CFRP CFRP-xhead; do
  expect_exit 1 "certify $r (some property n/a: the spec's check fails)" "$PD_CLI" certify "$runs/$r.h5" \
    --spec "$work/spec.yaml" -o "$work/certs-$r"
done
cat >"$work/check_certs.py" <<'PY'
import csv, json, sys
import numpy as np
tra, bh, work = sys.argv[1:4]
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
def cert(name):
    return json.load(open(f"{work}/certs-{name}/CERT-000001.json"))
def at(strain, stress, target):
    """σ at exactly `target` strain: linear between the samples around its first crossing."""
    k = int(np.argmax(strain >= target))
    return stress[k - 1] + (stress[k] - stress[k - 1]) * (target - strain[k - 1]) / (strain[k] - strain[k - 1])
def chord(strain, stress):
    return (at(strain, stress, 0.0025) - at(strain, stress, 0.0005)) / 0.002
def gate(c, name):
    acc = c["accreditation"]
    check(acc["accredited"] is False, name + ": not accredited without calibration")
    check(any("imported from" in r and "no calibration record" in r for r in acc["reasons"]),
          name + ": the reason names the missing calibration of the source instrument")
    check(c["instruments"][0]["calibration_status"].startswith("imported data"), name + ": calibration status")

rows = list(csv.reader(open(tra, encoding="latin-1")))
d = np.array([[float(x) for x in r] for r in rows[12:]])
stress, strain = d[:, 3] / (4.89 * 1.5), d[:, 2] / 30.0
c = cert("Invar_LT_05_01")
gate(c, "Invar")
s = c["specimens"][0]
res, ev = s["results"], s["evaluation"]
E = chord(strain, stress)
check(abs(res["tensile_modulus"]["value"] - E) <= 1e-9 * E, f"Invar modulus {res['tensile_modulus']['value']} vs numpy {E}")
i = int(np.argmax(stress))
check(abs(res["tensile_strength"]["value"] - stress[i]) <= 1e-4 * stress[i], "Invar strength vs numpy maximum")
check(abs(res["strain_at_strength"]["value"] - 100 * strain[i]) <= 0.01, "Invar strain at strength")
check(ev["break_detected"] and "stress_at_break" in res and "strain_at_break" in res, "Invar break reported")
check("nominal_strain_at_break" not in res, "Invar nominal strain n/a (no grip distance)")
check(any("nominal_strain_at_break" in r and "not applicable" in r for r in c["verdict_reasons"]), "Invar nominal n/a reason")

rows = list(csv.reader(open(bh, newline="")))
names_at = next(i for i, r in enumerate(rows) if r and r[0] == "Time")
hdr = {r[0]: r[1:] for r in rows[:names_at] if r}
d = np.array([[float(x.replace(",", "")) for x in r] for r in rows[names_at + 2:]])
area = float(hdr["Width"][0]) * float(hdr["Thickness"][0])
stress, strain = d[:, 2] / area, d[:, 3] / 100.0
c = cert("CFRP")
gate(c, "CFRP")
s = c["specimens"][0]
res, ev = s["results"], s["evaluation"]
E = chord(strain, stress)
check(abs(res["tensile_modulus"]["value"] - E) <= 1e-9 * E, f"CFRP modulus {res['tensile_modulus']['value']} vs numpy {E}")
# the export's own results (Bluehill computed them from the same channel)
sm = float(hdr["Tensile stress at Tensile strength"][0])
em = float(hdr["Tensile strain (Strain 1) at Tensile strength"][0])
check(abs(res["tensile_strength"]["value"] - sm) <= 1e-4 * sm, f"CFRP strength {res['tensile_strength']['value']} vs Bluehill {sm}")
check(abs(res["strain_at_strength"]["value"] - 100 * em) <= 0.001, "CFRP strain at strength vs Bluehill")
check(not ev["break_detected"] and "stress_at_break" not in res, "CFRP: no break, stress at break n/a")
check(any("stress_at_break" in r and "not applicable" in r for r in c["verdict_reasons"]), "CFRP break n/a reason")
c = cert("CFRP-xhead")
s = c["specimens"][0]
check("tensile_modulus" not in s["results"], "CFRP with crosshead Extension: modulus n/a")
check("0.066" in s["evaluation"].get("modulus_na_reason", ""), "CFRP: modulus n/a reason names the first strain")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
/usr/bin/python3 "$work/check_certs.py" "$tra" "$bh" "$work" >"$work/py" 2>&1 || { fail "certificates:"; cat "$work/py" >&2; }

# the lab's record of the source instrument's calibration, given in the map, opens the gate
cat >"$work/cal.yaml" <<'YAML'
instrument:
  name: zwick
  manufacturer: ZwickRoell
  model: Z050
  serial_number: "731234"
  calibration: {date: 2020-06-30, due: 2021-06-30, certificate: DKD-K-0001}
run: {operator: imported by the test}
YAML
expect_exit 0 "import with calibration" "$PD_CLI" import "$tra" --format testxpert -o "$runs" --map "$work/cal.yaml" \
  --run-id invar-cal --grip-distance 80
"$PD_CLI" certify "$runs/invar-cal.h5" --spec "$work/spec.yaml" -o "$work/certs-cal" >/dev/null 2>&1
/usr/bin/python3 - "$work/certs-cal/CERT-000001.json" >"$work/py" 2>&1 <<'PY' || { fail "calibrated import:"; cat "$work/py" >&2; }
import json, sys
c = json.load(open(sys.argv[1]))
i = c["instruments"][0]
assert i["calibration_status"] == "calibrated, valid until 2021-06-30", i
assert i["serial_number"] == "731234", i
assert not any("calibration" in r for r in c["accreditation"]["reasons"]), c["accreditation"]
assert "nominal_strain_at_break" in c["specimens"][0]["results"], "grip distance given: nominal strain reported"
PY
sed 's/due: 2021-06-30/due: 2020-12-01/' "$work/cal.yaml" >"$work/overdue.yaml"
expect_exit 0 "import, calibration overdue" "$PD_CLI" import "$tra" --format testxpert -o "$runs" --map "$work/overdue.yaml" \
  --run-id invar-overdue
"$PD_CLI" certify "$runs/invar-overdue.h5" --spec "$work/spec.yaml" -o "$work/certs-overdue" >/dev/null 2>&1
grep -q '"accredited": false' "$work/certs-overdue/CERT-000001.json" || fail "overdue calibration: not accredited"
grep -q 'OVERDUE' "$work/certs-overdue/CERT-000001.json" || fail "overdue calibration named"

# ---- damaged copies of the real exports: exit 2, the place named, nothing written ------------
bad="$work/bad"
mkdir -p "$bad"
sed '100s/^\([^,]*\),[^,]*,/\1,nan,/' "$tra" >"$bad/nan.TRA"
sed '200s/,/;/2' "$tra" >"$bad/fields.TRA"
sed '12s/"N"/"lbf"/' "$tra" >"$bad/unit.TRA"
sed '300s/^[0-9.]*,/1.5,/' "$tra" >"$bad/time.TRA"
head -c 4096 /bin/sh >"$bad/binary.TRA"
: >"$bad/empty.TRA"
sed -e '/^Width/d' "$bh" >"$bad/nowidth.csv"
for f in nan:100 fields:200 unit:12:15 time:300:1 binary:1:5 empty:1 nowidth; do
  name=${f%%:*}
  file=$(ls "$bad/$name".*)
  fmt=testxpert
  case "$file" in *.csv) fmt=bluehill ;; esac
  expect_exit 2 "damaged $name" "$PD_CLI" import "$file" --format $fmt -o "$work/none"
  where=${f#*:}
  [ "$where" = "$f" ] || grep -q "$(basename "$file"):$where" "$work/err" || { fail "$name: place $where not named"; cat "$work/err" >&2; }
  [ ! -e "$work/none" ] || [ -z "$(ls -A "$work/none")" ] || fail "$name: something was written"
done
grep -q "no specimen width" "$work/err" || fail "missing width named"

[ "$fails" -eq 0 ] && echo "import_real_test: all checks passed"
exit $((fails > 0))
