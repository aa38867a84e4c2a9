/* cert_scan_test.c — the evaluation's SSE2 passes (cert/scan.h) give what the plain loops give, bit
 * for bit, on arrays of every length with NaN, infinities and signed zeros in them; and the
 * first-maximum search, which passes whole blocks of samples, finds the sample a sample-by-sample
 * search finds on noisy curves; the noise estimate's median is a sorted array's. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cert/cert_internal.h"
#include "cert/scan.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
    double u = uniform() + 1e-300, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Random values with, now and then, the awkward ones. */
static void fill(double *a, size_t n, double odd_share)
{
    static const double odd[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e308, -1e308, 5e-324};
    for (size_t i = 0; i < n; i++)
        a[i] = uniform() < odd_share ? odd[(size_t)(uniform() * 8) % 8] : gauss() * 100.0;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_max_and_min_max_equal_the_plain_loops(void **state)
{
    (void)state;
    double a[300];
    for (int round = 0; round < 4000; round++) {
        size_t n = 1 + (size_t)(uniform() * 299);
        fill(a, n, round % 3 == 0 ? 0.0 : 0.05);
        if (round % 50 == 0)
            a[0] = NAN; /* a NaN first sample stays the answer of `m = y[i] > m ? y[i] : m` */
        double m = a[0], lo = a[0], hi = a[0];
        for (size_t i = 1; i < n; i++) {
            m = a[i] > m ? a[i] : m;
            lo = a[i] < lo ? a[i] : lo;
            hi = a[i] > hi ? a[i] : hi;
        }
        double got = cert_scan_max(a, n), glo, ghi;
        cert_scan_min_max(a, n, &glo, &ghi);
        /* equal values (0 and -0) may come from another lane: compare as numbers then */
        assert_true(same_bits(got, m) || got == m);
        assert_true(same_bits(glo, lo) || glo == lo);
        assert_true(same_bits(ghi, hi) || ghi == hi);
    }
}

static void test_finite_and_ranges_equal_the_plain_loops(void **state)
{
    (void)state;
    double x[300], y[300];
    for (int round = 0; round < 4000; round++) {
        size_t n = (size_t)(uniform() * 300);
        fill(x, n, round % 2 ? 0.0 : 0.01);
        fill(y, n, round % 2 ? 0.0 : 0.01);
        bool finite = true;
        double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            finite = finite && isfinite(x[i]) && isfinite(y[i]);
            xlo = fmin(xlo, x[i]);
            xhi = fmax(xhi, x[i]);
            ylo = fmin(ylo, y[i]);
            yhi = fmax(yhi, y[i]);
        }
        bool fx = true;
        for (size_t i = 0; i < n; i++)
            fx = fx && isfinite(x[i]);
        assert_int_equal(cert_scan_finite(x, n), fx);
        double a = 7, b = 7, c = 7, d = 7;
        assert_int_equal(cert_scan_finite_ranges(x, y, n, &a, &b, &c, &d), finite);
        if (finite) {
            assert_true(a == xlo && b == xhi && c == ylo && d == yhi);
        } else {
            assert_true(a == 7 && b == 7 && c == 7 && d == 7); /* untouched */
        }
    }
}

static void test_first_equal_finds_the_first(void **state)
{
    (void)state;
    double a[300];
    for (int round = 0; round < 4000; round++) {
        size_t n = (size_t)(uniform() * 300);
        fill(a, n, 0.1);
        double v = n > 0 && round % 4 ? a[(size_t)(uniform() * (double)n)] : 12345.0;
        size_t want = n;
        for (size_t i = 0; i < n && want == n; i++)
            if (a[i] == v)
                want = i;
        assert_int_equal(cert_scan_first_equal(a, n, v), want);
    }
}

static void test_divide_equals_division(void **state)
{
    (void)state;
    double a[300], out[300];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(uniform() * 300);
        fill(a, n, 0.05);
        double divisor = round % 7 == 0 ? 0.0 : gauss() * 10.0;
        cert_scan_divide(out, a, n, divisor);
        for (size_t i = 0; i < n; i++) {
            double want = a[i] / divisor;
            assert_true(same_bits(out[i], want) || (isnan(out[i]) && isnan(want)));
        }
        cert_scan_divide(a, a, n, 3.0); /* in place */
    }
}

/* The confirming fall as ISO 527-1's first local maximum is searched without averaging: the
 * running maximum, and the first sample beyond the arming strain that falls below it by the band
 * (no grip slips here: slip_window 0). */
static void reference_first_maximum(const double *x, const double *y, size_t n, double arm, double band,
                                    size_t *index, bool *confirmed, size_t *confirm)
{
    size_t ip = 0;
    *confirmed = false;
    for (size_t i = 1; i < n; i++) {
        if (y[i] > y[ip]) {
            ip = i;
            continue;
        }
        if (x[ip] > arm && y[i] < y[ip] - band) {
            *confirmed = true;
            *confirm = i;
            break;
        }
    }
    *index = ip;
}

static void test_first_maximum_equals_the_sample_by_sample_search(void **state)
{
    (void)state;
    enum { N = 20000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    size_t confirmed_rounds = 0;
    for (int round = 0; round < 300; round++) {
        size_t n = 200 + (size_t)(uniform() * (N - 200));
        /* a rise to a maximum at a random strain, then a decline or a plateau, with noise of a
         * random size (some rounds noise-free, some with NaN samples) */
        double peak = 0.02 + uniform() * 0.1, top = 20.0 + uniform() * 40.0, fall = uniform() * 2.0;
        double noise = round % 5 == 0 ? 0.0 : top * 1e-5 * (1.0 + uniform() * 3.0);
        for (size_t i = 0; i < n; i++) {
            x[i] = 0.3 * (double)i / (double)n;
            double t = x[i] / peak;
            y[i] = (t < 1.0 ? top * t * (2.0 - t) : top * (1.0 - fall * (t - 1.0) * (t - 1.0) * 0.05)) +
                   noise * gauss();
            if (round % 7 == 3 && uniform() < 0.001)
                y[i] = NAN;
        }
        struct cert_max_params p = {.arm_strain = 0.0025, .hysteresis = 0.005, .noise = noise};
        struct cert_max_result r;
        assert_int_equal(cert_find_maximum(x, y, n, &p, &r, NULL), 0);
        assert_int_equal(r.half_width, 0); /* no averaging at these noise levels: the blocks' path */
        double ymax = y[0];
        for (size_t i = 1; i < n; i++)
            ymax = y[i] > ymax ? y[i] : ymax;
        double band = fmax(p.hysteresis * ymax, 10.0 * noise);
        size_t index = 0, confirm = 0;
        bool confirmed = false;
        reference_first_maximum(x, y, n, p.arm_strain, band, &index, &confirmed, &confirm);
        assert_int_equal(r.index, index);
        assert_int_equal(r.confirmed, confirmed);
        if (confirmed) {
            assert_int_equal(r.confirm_index, confirm);
            confirmed_rounds++;
        }
        assert_true(same_bits(r.value, y[index]));
    }
    assert_true(confirmed_rounds > 100); /* the falls were found, not only curves without one */
    free(x);
    free(y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* cert_noise_sd's median (found from a sample's bounds, or by the full selection when they miss)
 * is the median a sort gives, on curves whose differences are spread evenly, grow along the curve,
 * repeat with a period near the sampling step, or are mostly equal. */
static void test_noise_median_equals_a_sorted_median(void **state)
{
    (void)state;
    enum { N = 200000 };
    double *y = malloc(N * sizeof *y), *d = malloc(N * sizeof *d);
    assert_non_null(y);
    assert_non_null(d);
    for (int round = 0; round < 60; round++) {
        size_t n = round < 10 ? 9 + (size_t)round * 7 : 1000 + (size_t)(uniform() * (N - 1000));
        for (size_t i = 0; i < n; i++) {
            double t = (double)i / (double)n, e;
            switch (round % 4) {
            case 0: e = gauss(); break;
            case 1: e = gauss() * (0.01 + 10.0 * t); break;            /* noise growing along the curve */
            case 2: e = (double)((i * 7919) % 97) + 0.001 * gauss(); break; /* a periodic pattern */
            default: e = i % 3 == 0 ? gauss() : 0.0; break;             /* mostly exact zeros */
            }
            y[i] = 30.0 * t * (1.0 - t) + e;
        }
        double sd = -1.0;
        assert_int_equal(cert_noise_sd(y, n, &sd), 0);
        size_t stride = (n - 4 + 16383) / 16384, m = (n - 4 + stride - 1) / stride;
        for (size_t k = 0, i = 0; k < m; k++, i += stride)
            d[k] = fabs(y[i] - 4.0 * y[i + 1] + 6.0 * y[i + 2] - 4.0 * y[i + 3] + y[i + 4]);
        qsort(d, m, sizeof *d, cmp_double);
        double want = 1.4826 * d[m / 2] / sqrt(70.0);
        assert_true(same_bits(sd, want));
    }
    free(y);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_and_min_max_equal_the_plain_loops),
        cmocka_unit_test(test_finite_and_ranges_equal_the_plain_loops),
        cmocka_unit_test(test_divide_equals_division),
        cmocka_unit_test(test_first_equal_finds_the_first),
        cmocka_unit_test(test_first_maximum_equals_the_sample_by_sample_search),
        cmocka_unit_test(test_noise_median_equals_a_sorted_median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
