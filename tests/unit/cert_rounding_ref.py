# cert_rounding_ref.py — the reference for cert_rounding_test: GUM 7.2.6 rounding of (value, U)
# pairs with Python's decimal module, independent of src/cert/rounding.c. Reads "value U" lines
# (doubles as %.17g), writes "value_text U_text" lines. repr() is the shortest decimal that reads
# back as the same double. Imported by tests/integration/cert_report_test.sh for `rounded`.
import sys
from decimal import Decimal, ROUND_HALF_UP, getcontext

getcontext().prec = 400
DIGITS = 4  # PD_REPORTED_DIGITS: significant digits of a value whose U is 0


def text(d):
    s = format(d, "f")
    return s[1:] if s.startswith("-") and Decimal(s) == 0 else s


def rounded(value, u):
    v, U = Decimal(repr(value)), Decimal(repr(u))
    if U == 0:
        q = v.adjusted() - (DIGITS - 1) if v != 0 else 0
        return text(v.quantize(Decimal(1).scaleb(q), ROUND_HALF_UP)), "0"
    q = U.adjusted() - 1
    Ur = U.quantize(Decimal(1).scaleb(q), ROUND_HALF_UP)
    if Ur.adjusted() - 1 > q:
        q = Ur.adjusted() - 1
        Ur = Ur.quantize(Decimal(1).scaleb(q), ROUND_HALF_UP)
    return text(v.quantize(Decimal(1).scaleb(q), ROUND_HALF_UP)), text(Ur)


if __name__ == "__main__":
    for line in sys.stdin:
        a, b = line.split()
        print(*rounded(float(a), float(b)))
