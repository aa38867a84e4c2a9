/* fixed_format.c — the "%f"-style numbers cairo prints into every PDF, formatted exactly as glibc would, without glibc's multi-precision printf. */
#include <fenv.h>
#include <langinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/cli.h"

/* cairo writes every coordinate, glyph position and matrix of a PDF page through
 * snprintf("%f") (and "%.18f" / "%.*f" for numbers below 0.1), and glibc formats each of them with
 * its arbitrary-precision routine (__printf_fp: ~450 instructions a number, ~70 here). That was a quarter
 * of the certificate PDF's instructions, all of it after the raw files are hashed
 * (docs/BENCHMARKS.md). polydaq is linked with --wrap=__snprintf_chk (cairo is built with
 * _FORTIFY_SOURCE, so its snprintf calls are __snprintf_chk), and the three formats cairo uses for
 * numbers come here; anything else goes on to glibc unchanged.
 *
 * The digits are exact, not approximated: a finite double below 2^53 is m·2^e with an integer m
 * < 2^53, so m·10^p·2^e (p ≤ 18 decimals) is an integer below 2^113 shifted right by -e, and the
 * discarded bits decide the rounding — to nearest, ties to even, on the exact binary value, as
 * glibc does in its default rounding mode. Larger numbers, other rounding modes and a locale whose
 * decimal point is not "." are left to glibc (tests/unit/cli_fixed_format_test.c compares both on
 * 400 000 values of every magnitude and on every kind of tie). */

static const uint64_t pow10_u64[19] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull};

/* Decimal digits of v, most significant first, into out (at least 40 bytes); returns their count.
 * A PDF's numbers fit 64 bits (below 2^53 · 10^6 for "%f"), where division by 10 is a multiply. */
static size_t utoa128(unsigned __int128 v, char *out)
{
    char tmp[40];
    size_t n = 0;
    while (v > UINT64_MAX) {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    uint64_t w = (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + (int)(w % 10));
        w /= 10;
    } while (w);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

int pd_fixed_format(char *buf, size_t size, int prec, double d)
{
    if (prec < 0 || prec > 18 || !isfinite(d))
        return -1;
    const char *point = nl_langinfo(RADIXCHAR); /* the locale's, as glibc's printf uses (localeconv costs 3×) */
    if (!point || point[0] != '.' || point[1] != '\0')
        return -1;
    if (fegetround() != FE_TONEAREST)
        return -1;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    bool neg = bits >> 63;
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ull << 52) - 1);
    if (biased >= 1023 + 53) /* |d| >= 2^53: integers with an exponent, rare in a PDF; glibc's */
        return -1;
    /* |d| = m · 2^-s exactly, with m an integer below 2^53 and s >= 0 */
    int s = biased == 0 ? 1074 : 1075 - biased;
    if (biased != 0)
        m |= 1ull << 52;
    unsigned __int128 prod = (unsigned __int128)m * pow10_u64[prec]; /* below 2^113 */
    unsigned __int128 scaled;
    if (s == 0) {
        scaled = prod;
    } else if (s >= 120) {
        scaled = 0; /* prod < 2^113, less than half of 2^s: rounds down */
    } else {
        unsigned __int128 q = prod >> s, rem = prod - (q << s), half = (unsigned __int128)1 << (s - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++; /* to nearest, ties to even */
        scaled = q;
    }
    char digits[48];
    size_t nd = utoa128(scaled, digits);
    char out[80];
    size_t n = 0;
    if (neg)
        out[n++] = '-'; /* glibc keeps the sign of a negative number that rounds to zero */
    size_t p = (size_t)prec;
    if (nd <= p) { /* below 1: "0." then zeros, then the digits */
        out[n++] = '0';
        if (p > 0) {
            out[n++] = '.';
            memset(out + n, '0', p - nd);
            n += p - nd;
            memcpy(out + n, digits, nd);
            n += nd;
        }
    } else {
        memcpy(out + n, digits, nd - p);
        n += nd - p;
        if (p > 0) {
            out[n++] = '.';
            memcpy(out + n, digits + nd - p, p);
            n += p;
        }
    }
    if (size > 0) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy(buf, out, k);
        buf[k] = '\0';
    }
    return (int)n;
}

/* glibc's entry points behind a fortified snprintf (the _chk variants check the buffer's size). */
int __real___snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *format, ...);
int __wrap___snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *format, ...);
int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *format, va_list ap);

int __wrap___snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int n = -1;
    if (slen >= maxlen && format[0] == '%') { /* else glibc's check reports the overflow */
        if (strcmp(format, "%f") == 0) {
            n = pd_fixed_format(s, maxlen, 6, va_arg(ap, double));
        } else if (strcmp(format, "%.18f") == 0) {
            n = pd_fixed_format(s, maxlen, 18, va_arg(ap, double));
        } else if (strcmp(format, "%.*f") == 0) {
            int prec = va_arg(ap, int);
            n = pd_fixed_format(s, maxlen, prec, va_arg(ap, double));
        }
    }
    va_end(ap);
    if (n >= 0)
        return n;
    va_start(ap, format);
    n = __vsnprintf_chk(s, maxlen, flag, slen, format, ap);
    va_end(ap);
    return n;
}
