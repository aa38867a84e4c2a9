/* number.c — the decimal parser of import's data rows: exact and fast for the numbers exports
 * contain, strtod for the rest. strtod alone costs about half of an import's time, and it knows
 * only the locale's decimal point and no thousands separators. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import/import_internal.h"

/* Every power of ten a double holds exactly (5^22 < 2^53). */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The same text handed to strtod: separators dropped, the decimal made '.', NUL-terminated. The
 * grammar has been checked already, so strtod sees only digits, one '.', an exponent. */
static int slow_path(const char *s, const char *end, char decimal, char thousands, double *out)
{
    char buf[400];
    size_t k = 0;
    for (const char *p = s; p < end; p++) {
        if (thousands && *p == thousands)
            continue;
        if (k + 1 >= sizeof buf)
            return -1;
        buf[k++] = *p == decimal ? '.' : *p;
    }
    buf[k] = '\0';
    errno = 0;
    char *stop;
    double v = strtod(buf, &stop);
    if (stop != buf + k)
        return -1;
    if (errno == ERANGE && (v > 1.0 || v < -1.0))
        return -1; /* overflow; an underflow to a tiny or zero value is the right answer */
    *out = v;
    return 0;
}

const char *imp_number_prefix(const char *s, const char *end, char decimal, char thousands, double *out)
{
    const char *p = s;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    uint64_t mant = 0;
    int sig = 0;     /* significant digits taken into mant */
    int drop = 0;    /* integer digits beyond the 19 mant holds (scale up) */
    int frac = 0;    /* fraction digits taken into mant (scale down) */
    int digits = 0;  /* all digits seen, for "is there a number at all" */
    bool inexact = false; /* a nonzero digit did not fit into mant */
    /* integer part, with optional thousands groups */
    int group = 0, groups = 0;
    for (; p < end; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d <= 9) {
            digits++;
            group++;
            if (mant == 0 && d == 0)
                continue; /* leading zeros are not significant */
            if (sig < 19) {
                mant = mant * 10 + d;
                sig++;
            } else {
                drop++;
                inexact |= d != 0;
            }
        } else if (thousands && *p == thousands) {
            if (group == 0 || group > 3 || (groups > 0 && group != 3))
                return NULL;
            groups++;
            group = 0;
        } else {
            break;
        }
    }
    if (groups > 0 && group != 3)
        return NULL;
    if (p < end && *p == decimal) {
        for (p++; p < end; p++) {
            unsigned d = (unsigned)(*p - '0');
            if (d > 9)
                break;
            digits++;
            if (mant == 0 && d == 0) {
                frac++; /* 0.000123: the zeros only scale */
                continue;
            }
            if (sig < 19) {
                mant = mant * 10 + d;
                sig++;
                frac++;
            } else {
                inexact |= d != 0;
            }
        }
    }
    if (digits == 0)
        return NULL;
    int exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        if (p >= end || (unsigned)(*p - '0') > 9)
            return NULL;
        for (; p < end && (unsigned)(*p - '0') <= 9; p++)
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (*p - '0');
        if (eneg)
            exp10 = -exp10;
    }
    int scale = exp10 + drop - frac;
    /* Exact when the mantissa and the power of ten are both exact doubles: one multiplication or
     * division, which IEEE 754 rounds correctly (Clinger's fast path). */
    if (!inexact && mant <= (1ull << 53) && scale >= -22 && scale <= 22) {
        double v = (double)mant;
        v = scale < 0 ? v / exact_pow10[-scale] : v * exact_pow10[scale];
        *out = neg ? -v : v;
        return p;
    }
    if (mant == 0 && !inexact) {
        *out = neg ? -0.0 : 0.0;
        return p;
    }
    return slow_path(s, p, decimal, thousands, out) == 0 ? p : NULL;
}

int pd_import_number(const char *s, const char *end, char decimal, char thousands, double *out)
{
    double v;
    const char *stop = imp_number_prefix(s, end, decimal, thousands, &v);
    if (!stop || stop != end)
        return -1;
    *out = v;
    return 0;
}
