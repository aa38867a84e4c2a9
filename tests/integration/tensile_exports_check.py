#!/usr/bin/python3
"""tensile_exports_check.py FILE KIND B H L0 — the independent (numpy) side of cert_exports_test:
reads a vendor export (KIND instron: Bluehill CSV with quoted numbers and thousands separators,
extension and load columns; zwick: testXpert .TRA, standard travel and standard force) and prints
`key value` lines: first strain, ISO 527-1 chord modulus interpolated at exactly 0.05/0.25 %
(when the data start below 0.05 %), its noise term, the highest stress and where, the first local
maximum (a fall of 0.5 % of the highest stress before any rise above it, beyond 0.25 %), and the
break (last point before the stress first falls to 10 % of the running maximum)."""
import csv
import sys

import numpy as np


def read(path, kind):
    force, ext = [], []
    with open(path, encoding="latin-1", newline="") as f:
        for row in csv.reader(f):
            vals = []
            try:
                vals = [float(v.replace(",", "")) for v in row]
            except ValueError:
                continue
            if len(vals) != 5:
                continue
            if kind == "instron":
                ext.append(vals[1])
                force.append(vals[2])
            else:
                ext.append(vals[2])
                force.append(vals[3])
    return np.array(force), np.array(ext)


def interp_first(e, s, t):
    i = int(np.argmax(e >= t))
    f = (t - e[i - 1]) / (e[i] - e[i - 1])
    return s[i - 1] + f * (s[i] - s[i - 1]), f * f + (1 - f) ** 2


def noise(y):
    """1.4826·median|Δ⁴y|/√70, the median the upper one of an even count, over every stride-th
    difference when there are more than 16384."""
    d = np.abs(np.diff(y, 4))
    d = d[:: -(-len(d) // 16384)]
    return 1.4826 * np.sort(d)[len(d) // 2] / np.sqrt(70.0)


def main():
    path, kind = sys.argv[1], sys.argv[2]
    b, h, l0 = (float(v) for v in sys.argv[3:6])
    force, ext = read(path, kind)
    stress, strain = force / (b * h), ext / l0
    n = len(stress)
    # break: first sample past e2 at or below 10 % of the running maximum
    runmax = np.maximum.accumulate(stress)
    brk = n
    for i in range(1, n):
        if strain[i - 1] > 0.0025 and stress[i] <= 0.10 * runmax[i - 1]:
            brk = i
            break
    s, e = stress[:brk], strain[:brk]
    print("samples", n)
    print("first_strain", strain[0])
    print("noise", noise(s))
    if strain[0] <= 0.0005:
        s1, w1 = interp_first(e, s, 0.0005)
        s2, w2 = interp_first(e, s, 0.0025)
        E = (s2 - s1) / 0.002
        seg = e[: int(np.argmax(e > 0.0025)) + 1]  # the strain's noise where the chord reads it
        print("modulus", E)
        print("strain_noise", noise(seg))
        print("modulus_u_noise", np.sqrt((noise(s) ** 2 + (E * noise(seg)) ** 2) * (w1 + w2)) / 0.002)
    top = s.max()
    print("highest", top)
    print("strain_at_highest", e[int(np.argmax(s))])
    first = None
    for i in np.nonzero((s == np.maximum.accumulate(s)) & (e > 0.0025))[0]:
        later = s[i + 1:]
        above = np.nonzero(later > s[i])[0]
        fall = np.nonzero(later < s[i] - 0.005 * top)[0]
        if len(fall) and (not len(above) or fall[0] < above[0]):
            first = i
            break
    if first is not None:
        print("first_max", s[first])
        print("strain_at_first_max", e[first])
    if brk < n:
        print("break_stress", stress[brk - 1])
        print("break_strain", strain[brk - 1])


main()
