/* rounding.c — how a result is written for a reader: a value rounded to the decimal place of its expanded uncertainty, the uncertainty to two significant digits (GUM 7.2.6), in decimal arithmetic on the shortest decimal form of each double. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"

/* A finite decimal number: sign · 0.d1 d2 … dn · 10^(exp+1), i.e. the first digit has the place
 * 10^exp. n == 0 is zero. */
struct decimal {
    bool negative;
    char digits[24]; /* '0'..'9', the first one not '0' unless n == 0 */
    int n;
    int exp;
};

int pd_decimal_shortest(double x, char *buf, size_t size)
{
    if (!isfinite(x) || !buf || size == 0)
        return PD_EINVAL;
    /* glibc's printf rounds correctly, so the p-digit form is the p-digit decimal nearest to x:
     * the first p that reads back as x gives the shortest form (the one Python's repr gives).
     * Trying p = 1, 2, … 17 in turn cost ~17 printf/strtod pairs for a computed result (they need
     * 16 or 17 digits): 9 M instructions of the benchmark's certify. This search is shorter (2 M) and finds the
     * same p: where x's neighbours are equally far on both sides (every x but a power of two, whose
     * lower neighbour is nearer), a p-digit form that reads back makes every longer one read back
     * too (it is itself a longer form with zeros appended, and the nearest longer form is no
     * farther from x), so p = 15 decides which: beyond it only 16 and 17 are left to try, below it the
     * step-by-step search (most such numbers are short: dimensions, limits). A power of two keeps
     * the step-by-step search throughout. */
    char tmp[40];
    int from = 1;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & ((1ull << 52) - 1)) != 0) {
        snprintf(tmp, sizeof tmp, "%.*e", 14, x);
        if (strtod(tmp, NULL) != x)
            from = 16;
    }
    for (int p = from; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    if ((size_t)snprintf(buf, size, "%s", tmp) >= size)
        return PD_ERANGE;
    return 0;
}

/* The shortest decimal of x as digits and exponent. */
static void to_decimal(double x, struct decimal *d)
{
    char e[40];
    memset(d, 0, sizeof *d);
    pd_decimal_shortest(x, e, sizeof e);
    const char *s = e;
    if (*s == '-') {
        d->negative = true;
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            d->digits[d->n++] = *s;
    d->exp = *s == 'e' ? atoi(s + 1) : 0;
    while (d->n > 0 && d->digits[d->n - 1] == '0') /* trailing zeros carry no information */
        d->n--;
    if (d->n == 0) /* zero: no digits; the sign of -0.0 is dropped */
        d->negative = false;
}

/* Rounds d to the place 10^q, halves away from zero (ROUND_HALF_UP). */
static void round_at(struct decimal *d, int q)
{
    if (d->n == 0)
        return;
    int keep = d->exp - q + 1; /* digits at places >= q */
    if (keep >= d->n)
        return;
    if (keep < 0) { /* below half a unit of 10^q */
        d->n = 0;
        d->negative = false;
        return;
    }
    bool up = d->digits[keep] >= '5';
    d->n = keep;
    if (up) {
        int i = keep - 1;
        while (i >= 0 && d->digits[i] == '9')
            d->digits[i--] = '0';
        if (i >= 0) {
            d->digits[i]++;
        } else { /* 9…9 + 1: a new leading 1, one place higher (also keep == 0: 0.5…·10^q → 10^q) */
            memmove(d->digits + 1, d->digits, (size_t)keep);
            d->digits[0] = '1';
            d->n = keep + 1;
            d->exp++;
        }
    }
    while (d->n > 0 && d->digits[d->n - 1] == '0')
        d->n--;
    if (d->n == 0)
        d->negative = false;
}

/* Fixed-point text of d with every place down to 10^q (trailing zeros included). */
static int format_at(const struct decimal *d, int q, char *buf, size_t size)
{
    size_t o = 0;
#define PUT(ch)                                                                                                       \
    do {                                                                                                              \
        if (o + 1 >= size)                                                                                            \
            return PD_ERANGE;                                                                                         \
        buf[o++] = (ch);                                                                                              \
    } while (0)
    if (d->negative && d->n > 0)
        PUT('-');
    int top = d->n > 0 && d->exp > 0 ? d->exp : 0; /* highest place written */
    int low = q < 0 ? q : 0;                       /* lowest place written (units at least) */
    for (int place = top; place >= low; place--) {
        if (place == -1)
            PUT('.');
        int i = d->exp - place;
        char ch = d->n > 0 && i >= 0 && i < d->n ? d->digits[i] : '0';
        PUT(ch);
    }
#undef PUT
    buf[o] = '\0';
    return 0;
}

int pd_round_to_uncertainty(double value, double U, struct pd_reported *out)
{
    if (!out || !isfinite(value) || !(U >= 0.0) || !isfinite(U))
        return PD_EINVAL;
    struct decimal v, u;
    to_decimal(value, &v);
    to_decimal(U, &u);
    struct pd_reported r = {0};
    int q;
    if (u.n > 0) {
        q = u.exp - 1; /* two significant digits */
        round_at(&u, q);
        if (u.exp - 1 > q) /* 9.95 → 10.0: the carry moved the first digit up; two digits of it */
            q = u.exp - 1;
        r.has_U = true;
    } else {
        /* No uncertainty to round to (U = 0): the value to PD_REPORTED_DIGITS significant digits. */
        q = v.n > 0 ? v.exp - (PD_REPORTED_DIGITS - 1) : 0;
    }
    round_at(&v, q);
    if (format_at(&v, q, r.value, sizeof r.value) < 0 || format_at(&u, r.has_U ? q : 0, r.U, sizeof r.U) < 0)
        return PD_ERANGE;
    r.place = q;
    *out = r;
    return 0;
}

int pd_decimal_plain(double x, char *buf, size_t size)
{
    char e[40];
    int rc = pd_decimal_shortest(x, e, sizeof e);
    if (rc < 0)
        return rc;
    const char *mark = strchr(e, 'e');
    int exp = mark ? atoi(mark + 1) : 0, digits = 0;
    for (const char *c = e; c < mark; c++)
        digits += *c >= '0' && *c <= '9';
    int n = exp >= -6 && exp < 16 ? snprintf(buf, size, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, x)
                                  : snprintf(buf, size, "%s", e);
    return n < 0 || (size_t)n >= size ? PD_ERANGE : 0;
}
