/*
 * scan.h — the passes the evaluation makes over every sample of a specimen (highest value, lowest
 * and highest of a block, finiteness, division by a dimension), two doubles at a time with SSE2
 * where the machine has it (every x86-64) and plain loops elsewhere, with the results of the plain
 * loops bit for bit.
 *
 * Why: certify evaluates ~10^5 samples per specimen in a dozen passes; compiled from plain C at
 * -O2 these run one double at a time, and the reductions (a running maximum, a sum) wait on the
 * previous sample's result, since the compiler may not reorder floating-point operations. SSE2's
 * maxpd/minpd/divpd/subpd compute exactly what the scalar comparison or division computes per
 * element, so only the order of independent lanes changes, never a value.
 */
#ifndef PD_CERT_SCAN_H
#define PD_CERT_SCAN_H

#include <stdbool.h>
#include <math.h>
#include <stddef.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The highest of y[0..n), n >= 1, as `m = y[i] > m ? y[i] : m` from m = y[0] finds it: a NaN
 * sample is passed over, and a NaN first sample stays the answer. (maxpd(a, b) is a > b ? a : b
 * per lane, the same comparison.) */
static inline double cert_scan_max(const double *y, size_t n)
{
    double m = y[0];
    size_t i = 1;
#ifdef __SSE2__
    if (n >= 9) {
        __m128d a = _mm_set1_pd(y[0]), b = a, c = a, d = a;
        for (; i + 8 <= n; i += 8) {
            a = _mm_max_pd(_mm_loadu_pd(y + i), a);
            b = _mm_max_pd(_mm_loadu_pd(y + i + 2), b);
            c = _mm_max_pd(_mm_loadu_pd(y + i + 4), c);
            d = _mm_max_pd(_mm_loadu_pd(y + i + 6), d);
        }
        double l[8];
        _mm_storeu_pd(l, a);
        _mm_storeu_pd(l + 2, b);
        _mm_storeu_pd(l + 4, c);
        _mm_storeu_pd(l + 6, d);
        for (int k = 0; k < 8; k++)
            m = l[k] > m ? l[k] : m;
    }
#endif
    for (; i < n; i++)
        m = y[i] > m ? y[i] : m;
    return m;
}

/* The lowest and highest of y[0..n), n >= 1, NaN samples passed over (both stay NaN only when
 * every sample is). For bounds a block of samples cannot cross; any NaN in them makes the
 * caller's comparisons fail, which sends it to the exact sample-by-sample path. */
static inline void cert_scan_min_max(const double *y, size_t n, double *lo, double *hi)
{
    double mn = y[0], mx = y[0];
    size_t i = 1;
#ifdef __SSE2__
    if (n >= 5) {
        __m128d a = _mm_set1_pd(y[0]), b = a, c = a, d = a;
        for (; i + 4 <= n; i += 4) {
            __m128d v = _mm_loadu_pd(y + i), w = _mm_loadu_pd(y + i + 2);
            a = _mm_min_pd(v, a);
            b = _mm_min_pd(w, b);
            c = _mm_max_pd(v, c);
            d = _mm_max_pd(w, d);
        }
        double l[8];
        _mm_storeu_pd(l, a);
        _mm_storeu_pd(l + 2, b);
        _mm_storeu_pd(l + 4, c);
        _mm_storeu_pd(l + 6, d);
        for (int k = 0; k < 4; k++) {
            mn = l[k] < mn ? l[k] : mn;
            mx = l[4 + k] > mx ? l[4 + k] : mx;
        }
    }
#endif
    for (; i < n; i++) {
        mn = y[i] < mn ? y[i] : mn;
        mx = y[i] > mx ? y[i] : mx;
    }
    *lo = mn;
    *hi = mx;
}

/* Whether every one of y[0..n) is finite: x − x is 0 for a finite x and NaN for NaN and ±∞, and a
 * NaN stays in a sum. Eight independent sums, so the additions do not wait for each other. */
static inline bool cert_scan_finite(const double *y, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    __m128d a = _mm_setzero_pd(), b = a, c = a, d = a;
    for (; i + 8 <= n; i += 8) {
        __m128d v0 = _mm_loadu_pd(y + i), v1 = _mm_loadu_pd(y + i + 2);
        __m128d v2 = _mm_loadu_pd(y + i + 4), v3 = _mm_loadu_pd(y + i + 6);
        a = _mm_add_pd(a, _mm_sub_pd(v0, v0));
        b = _mm_add_pd(b, _mm_sub_pd(v1, v1));
        c = _mm_add_pd(c, _mm_sub_pd(v2, v2));
        d = _mm_add_pd(d, _mm_sub_pd(v3, v3));
    }
    double l[2];
    _mm_storeu_pd(l, _mm_add_pd(_mm_add_pd(a, b), _mm_add_pd(c, d)));
    double acc = l[0] + l[1];
#else
    double acc = 0.0;
#endif
    for (; i < n; i++)
        acc += y[i] - y[i];
    return acc == 0.0;
}

/* The ranges of x[0..n) and y[0..n) when every value is finite; false, outputs untouched, when
 * one is not (see cert_scan_finite). One pass over both arrays. */
static inline bool cert_scan_finite_ranges(const double *x, const double *y, size_t n, double *xlo, double *xhi,
                                           double *ylo, double *yhi)
{
    double bad = 0.0, x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    size_t i = 0;
#ifdef __SSE2__
    __m128d b = _mm_setzero_pd(), a0 = _mm_set1_pd(INFINITY), a1 = _mm_set1_pd(-INFINITY), c0 = a0, c1 = a1;
    for (; i + 2 <= n; i += 2) {
        __m128d u = _mm_loadu_pd(x + i), v = _mm_loadu_pd(y + i);
        b = _mm_add_pd(b, _mm_add_pd(_mm_sub_pd(u, u), _mm_sub_pd(v, v)));
        a0 = _mm_min_pd(u, a0);
        a1 = _mm_max_pd(u, a1);
        c0 = _mm_min_pd(v, c0);
        c1 = _mm_max_pd(v, c1);
    }
    double l[10];
    _mm_storeu_pd(l, b);
    _mm_storeu_pd(l + 2, a0);
    _mm_storeu_pd(l + 4, a1);
    _mm_storeu_pd(l + 6, c0);
    _mm_storeu_pd(l + 8, c1);
    bad = l[0] + l[1];
    for (int k = 0; k < 2; k++) {
        x0 = l[2 + k] < x0 ? l[2 + k] : x0;
        x1 = l[4 + k] > x1 ? l[4 + k] : x1;
        y0 = l[6 + k] < y0 ? l[6 + k] : y0;
        y1 = l[8 + k] > y1 ? l[8 + k] : y1;
    }
#endif
    for (; i < n; i++) {
        bad += (x[i] - x[i]) + (y[i] - y[i]);
        x0 = x[i] < x0 ? x[i] : x0;
        x1 = x[i] > x1 ? x[i] : x1;
        y0 = y[i] < y0 ? y[i] : y0;
        y1 = y[i] > y1 ? y[i] : y1;
    }
    if (!(bad == 0.0))
        return false;
    *xlo = x0;
    *xhi = x1;
    *ylo = y0;
    *yhi = y1;
    return true;
}

/* The index of the first of y[0..n) equal to v (n when none is). */
static inline size_t cert_scan_first_equal(const double *y, size_t n, double v)
{
    size_t i = 0;
#ifdef __SSE2__
    __m128d w = _mm_set1_pd(v);
    for (; i + 4 <= n; i += 4) {
        int m = _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(y + i), w)) |
                _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(y + i + 2), w)) << 2;
        if (m)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    for (; i < n; i++)
        if (y[i] == v)
            return i;
    return n;
}

/* dst[i] = src[i] / divisor for i in [0, n): a division per element as the formulas (and the
 * numpy comparisons) have it, never a multiplication by the reciprocal. dst may be src. */
static inline void cert_scan_divide(double *dst, const double *src, size_t n, double divisor)
{
    size_t i = 0;
#ifdef __SSE2__
    __m128d q = _mm_set1_pd(divisor);
    for (; i + 4 <= n; i += 4) {
        __m128d v = _mm_loadu_pd(src + i), w = _mm_loadu_pd(src + i + 2);
        _mm_storeu_pd(dst + i, _mm_div_pd(v, q));
        _mm_storeu_pd(dst + i + 2, _mm_div_pd(w, q));
    }
#endif
    for (; i < n; i++)
        dst[i] = src[i] / divisor;
}

#endif
