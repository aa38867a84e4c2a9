#!/usr/bin/python3
"""cert_flexural_check.py RUN.h5 FACTOR COMPLIANCE — the independent (h5py + numpy) side of
cert_flexural_test: reads every specimen of an ISO 178 run file and prints one JSON object, per
specimen id, of what ISO 178 defines, computed here from the raw force and deflection:

  σf = 3FL/(2bh²), εf = 6(s − C·F)h/L² (C = COMPLIANCE mm/N)
  break: the sample before the first one past εf2 whose stress is at or below 10 % of the
         highest stress before it (sfB, efB)
  Ef: chord between the stresses interpolated at exactly εf1 = 0.05 % and εf2 = 0.25 % on the
      first upward crossing; "modulus_na" when the data start past εf1
  u_noise, u_deflectometer: the modulus' noise term from the measured noise of the stress (up to the
      break) and of the strain (over the chord's samples): 1.4826·median|Δ⁴y|/√70, weighted by the
      interpolation weights f² + (1 − f)²; the deflectometer's ±3 µm over (εf2 − εf1)·L²/(6h)
  sfC: the stress interpolated at exactly εfC = 6·FACTOR·h²/L² (sC = FACTOR·h)
  sfM: a least-squares parabola through the samples within ±0.3 % strain of the highest point of a
       41-sample moving average before sC (ending at the break point when the specimen broke on a
       rise), its top value, the standard error of it (delta method), the tolerance 3 SE + 0.1 % (the
       two fits' different windows) and the strain span over which the parabola stays within that
       tolerance of its top (efM_tol: how well a flat top defines its strain)."""
import json
import sys

import h5py
import numpy as np

E1, E2 = 0.0005, 0.0025
ABS_MM = 0.003


def noise(y):
    d = np.abs(np.diff(y, 4))
    if len(d) < 5:
        return 0.0
    d = d[:: -(-len(d) // 16384)]
    return float(1.4826 * np.sort(d)[len(d) // 2] / np.sqrt(70.0))


def first_crossing(e, s, t):
    i = int(np.argmax(e >= t))
    if e[i] < t:
        return None
    if i == 0:
        return float(s[0]), 1.0
    f = (t - e[i - 1]) / (e[i] - e[i - 1])
    return float(s[i - 1] + f * (s[i] - s[i - 1])), float(f * f + (1 - f) ** 2)


def parabola_top(e, s, lo, hi, one_sided_end):
    x = e[lo:hi] - e[lo:hi].mean()
    coef, cov = np.polyfit(x, s[lo:hi], 2, cov=True)
    c, b, a = coef
    xv = -b / (2 * c)
    if one_sided_end and xv > x[-1]:  # still rising at the break: the top of the fit is its end
        xv = x[-1]
        g = np.array([xv * xv, xv, 1.0])
    else:
        g = np.array([b * b / (4 * c * c), -b / (2 * c), 1.0])
    value = a + b * xv + c * xv * xv
    se = float(np.sqrt(g @ cov @ g))
    # the strain span over which the parabola stays within the stress tolerance of its top: a flat
    # top defines its strain only that well
    tol = 3.0 * se + 1e-3 * value
    slope = abs(b + 2 * c * xv)
    x_tol = np.sqrt(tol / abs(c)) if slope < 1e-12 else min(tol / slope, np.sqrt(tol / abs(c)))
    return float(value), float(xv + e[lo:hi].mean()), se, float(tol), float(x_tol)


def specimen(entry, factor, compliance):
    data = entry["frame1"]
    F = data["force"][...].astype(float)
    d = data["deflection"][...].astype(float)
    sample = entry["sample"]
    b, h, L = (float(sample[k][()]) for k in ("width", "thickness", "span"))
    s = 3.0 * F * L / (2.0 * b * h * h)
    e = 6.0 * (d - compliance * F) * h / (L * L)
    n = len(s)
    out = {"samples": n}
    runmax = np.maximum.accumulate(s)
    brk = n
    for i in range(1, n):
        if e[i - 1] > E2 and runmax[i - 1] > 0 and s[i] <= 0.10 * runmax[i - 1]:
            brk = i
            break
    count = brk
    if brk < n:
        out["sfB"], out["efB"] = float(s[brk - 1]), float(e[brk - 1])
    sn = noise(s[:count])
    out["stress_noise"] = sn
    if e[0] > E1:
        out["modulus_na"] = "start"
    else:
        seg = int(np.argmax(e[:count] > E2))
        seg = seg + 1 if e[seg] > E2 else count
        (s1, w1), (s2, w2) = first_crossing(e[:seg], s[:seg], E1), first_crossing(e[:seg], s[:seg], E2)
        E = (s2 - s1) / (E2 - E1)
        en = noise(e[:seg])
        out["Ef"] = E
        out["u_noise"] = float(np.sqrt((sn * sn + E * E * en * en) * (w1 + w2)) / (E2 - E1))
        out["u_deflectometer"] = E * ABS_MM / np.sqrt(3.0) / ((E2 - E1) * L * L / (6.0 * h))
    eC = 6.0 * factor * h * h / (L * L)
    c = first_crossing(e[:count], s[:count], eC)
    if c is not None:
        out["sfC"] = c[0]
    # the maximum before sC
    avg = np.convolve(s[:count], np.ones(41) / 41, mode="same")
    avg[:20] = -np.inf
    avg[count - 20:] = -np.inf
    before = e[:count] <= eC
    top = int(np.argmax(np.where(before, avg, -np.inf)))
    lo = top
    while lo > 0 and e[lo - 1] >= e[top] - 0.003:
        lo -= 1
    hi = top
    while hi < count and e[hi] <= e[top] + 0.003:
        hi += 1
    out["sfM"], out["efM"], out["sfM_se"], out["sfM_tol"], out["efM_tol"] = parabola_top(e, s, lo, hi,
                                                                                       brk < n and hi >= count)
    out["b"], out["h"], out["L"] = b, h, L
    return out


def main():
    path, factor, compliance = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    res = {}
    with h5py.File(path, "r") as f:
        for name in sorted(k for k in f.keys() if k.startswith("specimen_")):
            sid = f[name].attrs["specimen_id"]
            sid = sid.decode() if isinstance(sid, bytes) else str(sid)
            res[sid] = specimen(f[name], factor, compliance)
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
